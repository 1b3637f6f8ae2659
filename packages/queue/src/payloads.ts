import type { ModelConfig } from '@mcm/model';

/**
 * A weights version: `version` optimizer updates applied, published by coordinator
 * invocation `session`. A coordinator that resumes from a checkpoint starts a new
 * session, so that a version number of the crashed invocation cannot be mistaken
 * for the same number after the resume.
 */
export interface WeightsVersion {
  run: string;
  session: string;
  version: number;
}

/** The run description a worker needs to compute gradients, published by the coordinator at start. */
export interface RunDescription {
  run: string;
  session: string;
  /** The --model name. */
  modelName: string;
  modelConfig: ModelConfig;
  /** Features of the model input and the trained tasks. */
  features: string[];
  tasks: string[];
  /** The ingest output the coordinator reads; a worker reads the same files, or its own copy through --data. */
  dataDir: string;
  /** Fingerprint of that ingest output; a worker whose copy differs rejects the run. */
  fingerprint: string;
}

/** One example as positions in the ingest output: shard file index, customer index in the shard, event range [start, end). */
export type ExamplePosition = [shard: number, customer: number, start: number, end: number];

/** The encoding of a worker's gradients on their way through Redis. */
export interface GradientEncoding {
  /** Send only the rows with a non-zero gradient of a matrix when that is smaller (embedding tables). */
  sparseRows: boolean;
  /** Send dense tensors as float16; halves the bytes but rounds each value to 11 significant bits. */
  denseFloat16: boolean;
}

/** The data of one gradient job: one shard of the batch of one step. */
export interface GradientJobData extends WeightsVersion {
  /** 1-based optimizer step this shard belongs to (version + 1). */
  step: number;
  shard: number;
  shardCount: number;
  examples: ExamplePosition[];
  /** Task -> weight of its loss, as in the single-process run. */
  taskWeights: Record<string, number>;
  /**
   * Task -> number of labelled examples (label not 0) in the whole batch of the step.
   * Each task's loss is a mean over those, so a shard scales its gradient by its share.
   */
  batchLabelCounts: Record<string, number>;
  /** Micro-batches the shard is cut into; their gradients are summed before the upload. */
  microBatches: number;
  /** State of the dropout and candidate-sampling generator at the start of the step. */
  randomState: number[];
  encoding: GradientEncoding;
}

/** The return value of a gradient job: a reference to the gradients, and the counts needed to combine them. */
export interface GradientJobResult extends WeightsVersion {
  step: number;
  shard: number;
  worker: string;
  /** Redis key of the gradient payload. */
  gradientKey: string;
  bytes: number;
  examples: number;
  /** Task -> sum of the cross-entropy of the labelled examples of the shard. */
  taskLossSums: Record<string, number>;
  /** Task -> labelled examples of the shard. */
  labelCounts: Record<string, number>;
  /** Generator state after the forward pass; every shard of a step ends in the same state. */
  randomState: number[];
  /** Seconds the worker spent on the job, from the version check to the upload. */
  seconds: number;
  /** The split of those seconds into loading the weights, computing the gradients, and encoding and uploading them. */
  phases: WorkerPhases;
  /** Milliseconds since the epoch at which the worker started and finished the job (see epochMs), to time the queue's delays. */
  startedAt?: number;
  finishedAt?: number;
}

/** Seconds of a gradient job's phases on its worker. */
export interface WorkerPhases {
  /** From the job's start to the first micro-batch: version check, weights read, decoded and set. */
  weights: number;
  compute: number;
  /** Encoding the gradients and storing them in Redis. */
  upload: number;
  /** Finer phases by name (see GradientWorker.process), for the benchmark. */
  detail?: Record<string, number>;
}

/** A worker's heartbeat record. */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  backend: string;
  startedAt: string;
  /** ISO time of the heartbeat that wrote this record; the dashboard shows it. */
  heartbeatAt?: string;
}

/** Returns a job id that names run, session, version, shard and redo count, so that adding the same job twice is a no-op. */
export function gradientJobId(version: WeightsVersion, shard: number, redo: number): string {
  // BullMQ rejects custom job ids that contain ':' (its key separator).
  return `${version.run}.${version.session}.${version.version}.${shard}.${redo}`;
}

/** Returns whether `a` and `b` are the same weights version. */
export function sameVersion(a: WeightsVersion, b: WeightsVersion): boolean {
  return a.run === b.run && a.session === b.session && a.version === b.version;
}

/** Returns a version as "run/session/version", for logs and errors. */
export function formatVersion(version: WeightsVersion): string {
  return `${version.run}/${version.session}/${version.version}`;
}
