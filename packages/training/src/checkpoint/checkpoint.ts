import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '@mcm/common';
import type { AdamWState } from '../optimizer/adamw.ts';
import type { SamplerState } from '../samplers/batch-sampler.ts';
import type { NamedWeights } from '../trainable-model.ts';

export const CHECKPOINT_FORMAT_VERSION = 1;

/** `last`: the latest state, for resuming. `best`: the weights with the best validation NDCG@10 so far. */
export type CheckpointKind = 'last' | 'best';

/** One float32 array inside the checkpoint's binary file. */
export interface TensorEntry {
  name: string;
  group: 'weights' | 'adam.m' | 'adam.v';
  shape: number[];
  /** Byte offset in the binary file. */
  offset: number;
  /** Number of float32 elements. */
  length: number;
}

/** The trainer's progress counters, restored on resume. */
export interface TrainerProgress {
  /** Seconds spent in training steps and evaluations, summed over every invocation. */
  trainingSeconds: number;
  sequences: number;
  bestValidationNdcg: number | null;
  bestStep: number | null;
  evaluationsWithoutImprovement: number;
}

/** `<kind>.json`: everything but the arrays, which live in the binary file it names. */
export interface CheckpointMeta {
  formatVersion: number;
  kind: CheckpointKind;
  /** Optimizer steps taken. */
  step: number;
  createdAt: string;
  dataset: string;
  /** Fingerprint of the ingest output the run trained on; resuming on other data is rejected. */
  manifestFingerprint: string;
  /** The --model name. */
  model: string;
  modelConfig: unknown;
  /** The resolved training options. */
  training: unknown;
  /** State of the dropout and candidate-sampling generator. */
  random: number[];
  sampler: SamplerState;
  /** Update count of AdamW; its moments are in the binary file. Null in a `best` checkpoint, which contains weights only. */
  optimizerStep: number | null;
  progress: TrainerProgress;
  /** Validation metrics measured at this step, when an evaluation ran. */
  validation: unknown;
  tensorsFile: string;
  /** sha256 of the binary file. */
  tensorsSha256: string;
  tensors: TensorEntry[];
}

export interface Checkpoint {
  meta: CheckpointMeta;
  weights: NamedWeights;
  optimizer: AdamWState | null;
}

export type CheckpointInput = Omit<CheckpointMeta, 'formatVersion' | 'kind' | 'createdAt' | 'tensorsFile' | 'tensorsSha256' | 'tensors' | 'optimizerStep'>;

/**
 * Writes a checkpoint into `dir` as `<kind>-<step>.bin` (float32 arrays) and `<kind>.json`.
 * Both writes are atomic (a temporary file, then a rename), and the JSON, written last,
 * is the commit point: a run killed in between leaves the previous checkpoint intact.
 * Binary files of the same kind that the new JSON no longer names are removed after.
 */
export async function saveCheckpoint(
  dir: string,
  kind: CheckpointKind,
  input: CheckpointInput,
  weights: NamedWeights,
  optimizer: AdamWState | null,
): Promise<CheckpointMeta> {
  const arrays: Array<{ name: string; group: TensorEntry['group']; shape: number[]; values: Float32Array }> = [];
  for (const name of Object.keys(weights).sort()) arrays.push({ name, group: 'weights', ...weights[name]! });
  if (optimizer !== null) {
    for (const name of Object.keys(optimizer.moments).sort()) {
      const moments = optimizer.moments[name]!;
      arrays.push({ name, group: 'adam.m', shape: moments.shape, values: moments.m });
      arrays.push({ name, group: 'adam.v', shape: moments.shape, values: moments.v });
    }
  }

  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const array of arrays) {
    tensors.push({ name: array.name, group: array.group, shape: array.shape, offset, length: array.values.length });
    offset += array.values.byteLength;
  }
  const bytes = new Uint8Array(offset);
  arrays.forEach((array, i) => bytes.set(new Uint8Array(array.values.buffer, array.values.byteOffset, array.values.byteLength), tensors[i]!.offset));

  const tensorsFile = `${kind}-${String(input.step).padStart(8, '0')}.bin`;
  await writeFileAtomic(join(dir, tensorsFile), bytes);
  const meta: CheckpointMeta = {
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    kind,
    createdAt: new Date().toISOString(),
    ...input,
    optimizerStep: optimizer === null ? null : optimizer.step,
    tensorsFile,
    tensorsSha256: createHash('sha256').update(bytes).digest('hex'),
    tensors,
  };
  await writeJsonAtomic(join(dir, `${kind}.json`), meta);

  for (const file of await readdir(dir)) {
    if (file.startsWith(`${kind}-`) && file.endsWith('.bin') && file !== tensorsFile) await rm(join(dir, file), { force: true });
  }
  return meta;
}

/** Reads `<dir>/<kind>.json`, or returns null when that checkpoint does not exist. */
export async function readCheckpointMeta(dir: string, kind: CheckpointKind): Promise<CheckpointMeta | null> {
  let text: string;
  try {
    text = await readFile(join(dir, `${kind}.json`), 'utf8');
  } catch {
    return null;
  }
  const meta = JSON.parse(text) as CheckpointMeta;
  if (meta.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new Error(`${join(dir, `${kind}.json`)} has checkpoint format ${meta.formatVersion}; this version of mcm reads format ${CHECKPOINT_FORMAT_VERSION}`);
  }
  return meta;
}

/** Loads a checkpoint and checks its binary file against the recorded sha256. */
export async function loadCheckpoint(dir: string, kind: CheckpointKind): Promise<Checkpoint> {
  const meta = await readCheckpointMeta(dir, kind);
  if (meta === null) throw new Error(`no ${kind} checkpoint in ${dir} (${kind}.json not found)`);

  const path = join(dir, meta.tensorsFile);
  const bytes = await readFile(path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== meta.tensorsSha256) {
    throw new Error(`${path} does not match the sha256 in ${kind}.json (${sha256} vs ${meta.tensorsSha256}); the checkpoint is damaged`);
  }

  const weights: NamedWeights = {};
  const moments: AdamWState['moments'] = {};
  for (const entry of meta.tensors) {
    // A copy, because Float32Array views need a 4-byte aligned offset into the buffer.
    const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + entry.offset, bytes.byteOffset + entry.offset + entry.length * 4));
    if (entry.group === 'weights') {
      weights[entry.name] = { shape: entry.shape, values };
      continue;
    }
    const slot = (moments[entry.name] ??= { shape: entry.shape, m: new Float32Array(0), v: new Float32Array(0) });
    if (entry.group === 'adam.m') slot.m = values;
    else slot.v = values;
  }

  const optimizer = meta.optimizerStep === null ? null : { step: meta.optimizerStep, moments };
  return { meta, weights, optimizer };
}

/** Rejects a checkpoint that was trained on other data than `fingerprint` identifies. */
export function checkFingerprint(meta: CheckpointMeta, fingerprint: string, dataDir: string): void {
  if (meta.manifestFingerprint !== fingerprint) {
    throw new Error(
      `the ${meta.kind} checkpoint (step ${meta.step}) was trained on data with fingerprint ${meta.manifestFingerprint}, ` +
        `but ${dataDir} has fingerprint ${fingerprint}; pass the same --data as the run, or start a new run with another --out`,
    );
  }
}
