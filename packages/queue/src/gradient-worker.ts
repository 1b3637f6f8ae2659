import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Random, type Logger } from '@mcm/common';
import { CustomerModel } from '@mcm/model';
import {
  buildBatch,
  buildLabels,
  computeGradients,
  disposeGradients,
  loadTrainingData,
  type TrainableModel,
  type TrainingData,
} from '@mcm/training';
import { GRADIENT_QUEUE, QueueKeys } from './keys.ts';
import { formatVersion, sameVersion, type GradientJobData, type GradientJobResult, type RunDescription, type WeightsVersion } from './payloads.ts';
import type { QueuePolicy } from './policy.ts';
import { PhaseClock } from './phase-clock.ts';
import { labelCounts, resolveExamples, splitEvenly } from './shard-plan.ts';
import { GradientSums } from './gradient-sums.ts';
import { PayloadAligner } from './payload-aligner.ts';
import { decodeTensors, TensorEncoder } from './tensor-payload.ts';
import { repeatLimitedWarning } from './repeat-limited-log.ts';
import { WeightsPrefetcher, type FetchedWeights, type PendingWeights } from './weights-prefetcher.ts';
import { WorkerHeartbeat } from './worker-registry.ts';

export interface GradientWorkerOptions {
  /** A connected client (see connectRedis); the worker duplicates it for BullMQ's blocking reads and never closes it. */
  redis: Redis;
  prefix: string;
  policy: QueuePolicy;
  logger: Logger;
  /** Name of the tfjs backend, recorded in the heartbeat. */
  backend: string;
  /** Worker id in logs, heartbeats and job records; default: host, process id and a random suffix. */
  id?: string;
  /** Ingest output to read instead of the directory the coordinator names (a copy on this host). */
  dataDir?: string;
  /** Builds the model of a run; its weights are replaced before every use. Default: CustomerModel. */
  createModel?: (run: RunDescription) => TrainableModel;
  /** Reads an ingest output. Default: loadTrainingData. */
  loadData?: (dir: string) => Promise<TrainingData>;
  /**
   * Milliseconds to pause after each micro-batch. Fault drills and tests use it to
   * widen the window in which a worker is in the middle of a step; 0 in production.
   */
  microBatchDelayMs?: number;
  /**
   * Whether to read each announced weights version while idle (default true). When
   * false, every job reads its weights after it starts.
   */
  prefetchWeights?: boolean;
}

/**
 * Multiple of the longest micro-batch so far that the lock must outlast before the next
 * one: room for a busier machine or a batch of longer histories.
 */
const MICRO_BATCH_LOCK_FACTOR = 3;

/** Counters of one worker, for logs and tests. */
export interface GradientWorkerStats {
  jobsCompleted: number;
  staleJobsRejected: number;
  jobsHandedBack: number;
  examples: number;
}

/** The run a worker has loaded: its description, data and model, and the weights version in the model. */
interface LoadedRun {
  description: RunDescription;
  data: TrainingData;
  model: TrainableModel;
  version: WeightsVersion | null;
}

/**
 * A trainer worker of the distributed run. It takes gradient jobs from the BullMQ queue
 * one at a time and loads the weights version each job names, and the run's data and
 * model on first use. It computes the gradients of the job's shard of the batch with the
 * same `computeGradients` as the single-process trainer, uploads them to Redis and
 * returns their key. A job for a weights version that is no longer current is rejected
 * as stale. While idle, it reads each weights version the coordinator announces, so that
 * the version's job finds the weights in place. The weights of a running job never change.
 * `close()` (called on SIGTERM) hands an unfinished job back to the queue at the next
 * micro-batch boundary, so that another worker computes it.
 */
export class GradientWorker {
  readonly id: string;
  readonly stats: GradientWorkerStats = { jobsCompleted: 0, staleJobsRejected: 0, jobsHandedBack: 0, examples: 0 };
  private readonly keys: QueueKeys;
  private readonly worker: Worker<GradientJobData, GradientJobResult>;
  private readonly heartbeat: WorkerHeartbeat;
  private loaded: LoadedRun | null = null;
  private readonly prefetcher: WeightsPrefetcher;
  /** True from the start to the end of `process`; weights are set outside a job only while it is false. */
  private busy = false;
  /** Longest micro-batch this worker has computed, in milliseconds; sizes the lock before the next one. */
  private longestMicroBatchMs = 0;
  /**
   * Buffers kept from job to job (one job runs at a time), so that a step allocates no
   * memory for its payloads: the gradient sum, its encoder, and the aligner that weights
   * payloads are decoded from.
   */
  private readonly sums = new GradientSums();
  private readonly encoder = new TensorEncoder();
  private readonly weightsAligner = new PayloadAligner();
  private closing = false;
  private closed: Promise<void> | null = null;

  private constructor(private readonly options: GradientWorkerOptions) {
    validateWorkerOptions(options);
    this.id = options.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.keys = new QueueKeys(options.prefix);
    const { policy, logger } = options;

    this.heartbeat = new WorkerHeartbeat(
      options.redis,
      this.keys,
      { id: this.id, host: hostname(), pid: process.pid, backend: options.backend, startedAt: new Date().toISOString() },
      policy,
      logger,
    );
    this.worker = new Worker<GradientJobData, GradientJobResult>(GRADIENT_QUEUE, (job, token) => this.process(job, token), {
      connection: options.redis,
      prefix: options.prefix,
      name: this.id,
      autorun: false,
      concurrency: 1,
      lockDuration: policy.lockDurationMs,
      stalledInterval: policy.stalledIntervalMs,
      maxStalledCount: policy.maxStalledCount,
      // Seconds an idle worker blocks on Redis waiting for a job before it polls again.
      drainDelay: 1,
    });
    this.worker.on('failed', (job, error) => {
      if (error instanceof WaitingError || error.name === 'WaitingError') return;
      logger.warn({ worker: this.id, job: job?.id, step: job?.data.step, shard: job?.data.shard, attempt: job?.attemptsMade, error: error.message }, 'gradient job failed');
    });
    this.worker.on('stalled', (jobId) => {
      logger.warn({ worker: this.id, job: jobId }, 'gradient job stalled because its worker stopped renewing the lock; it goes back to the queue to be redone');
    });
    this.prefetcher = new WeightsPrefetcher(
      options.redis,
      this.keys,
      logger,
      this.id,
      (version) => this.wantsWeights(version),
      (pending, weights) => this.setPrefetchedWeights(pending, weights),
    );
    const workerError = repeatLimitedWarning(logger, 'worker error');
    this.worker.on('error', (error) => workerError({ worker: this.id, error: error.message }));
  }

  /** Creates a worker, registers its heartbeat and starts taking jobs. */
  static async start(options: GradientWorkerOptions): Promise<GradientWorker> {
    const worker = new GradientWorker(options);
    await worker.worker.waitUntilReady();
    if (options.prefetchWeights ?? true) await worker.prefetcher.start();
    await worker.heartbeat.start();
    void worker.worker.run().catch((error: unknown) => options.logger.error({ worker: worker.id, error: (error as Error).message }, 'worker loop stopped'));
    options.logger.info({ worker: worker.id, prefix: options.prefix, backend: options.backend }, 'worker started');
    return worker;
  }

  /**
   * Stops taking jobs, removes the heartbeat (so the next step gets no shard for this
   * worker), hands an unfinished job back and frees the model. Calling it again returns
   * the same promise.
   */
  close(): Promise<void> {
    this.closed ??= this.shutDown();
    return this.closed;
  }

  private async shutDown(): Promise<void> {
    this.closing = true;
    this.options.logger.info({ worker: this.id }, 'worker stopping');
    await this.heartbeat.stop().catch((error: unknown) => this.options.logger.warn({ worker: this.id, error: (error as Error).message }, 'could not remove the heartbeat; it expires on its own'));
    await this.worker.close();
    await this.prefetcher.stop();
    this.loaded?.model.dispose();
    this.loaded = null;
    this.options.logger.info({ worker: this.id, ...this.stats }, 'worker stopped');
  }

  private async process(job: Job<GradientJobData, GradientJobResult>, token: string | undefined): Promise<GradientJobResult> {
    this.busy = true;
    try {
      return await this.computeJob(job, token);
    } finally {
      this.busy = false;
    }
  }

  private async computeJob(job: Job<GradientJobData, GradientJobResult>, token: string | undefined): Promise<GradientJobResult> {
    const clock = new PhaseClock();
    const data = job.data;
    const log = { worker: this.id, job: job.id, step: data.step, shard: data.shard, version: formatVersion(data) };
    await this.rejectIfStale(data, log);
    clock.mark('versionCheck');

    const run = await this.loadRun(data);
    clock.mark('run');
    await this.loadWeights(run, data, log, clock);
    const computeStart = clock.mark('weightsSet');

    const refs = resolveExamples(run.data, data.examples);
    const parts = splitEvenly(refs, Math.min(data.microBatches, refs.length));
    this.sums.clear();
    const taskLossSums: Record<string, number> = Object.fromEntries(run.description.tasks.map((task) => [task, 0]));
    const shardLabelCounts: Record<string, number> = Object.fromEntries(run.description.tasks.map((task) => [task, 0]));
    let randomState: number[] | null = null;

    for (const [index, part] of parts.entries()) {
      await this.extendForMicroBatch(job, token);
      const microBatchStart = performance.now();
      const state = this.computeMicroBatch(run, data, part, taskLossSums, shardLabelCounts, clock);
      this.longestMicroBatchMs = Math.max(this.longestMicroBatchMs, performance.now() - microBatchStart);
      randomState ??= state;
      if (this.options.microBatchDelayMs) await sleep(this.options.microBatchDelayMs);
      // Yields to the event loop, so that BullMQ renews the job's lock between micro-batches.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.closing && index < parts.length - 1) await this.handBack(job, token, log);
    }

    const uploadStart = clock.mark('compute');
    // The payload is a view of the encoder's buffer, which the next job reuses once this upload has finished.
    const { payload, stats } = this.encoder.encode(this.sums.current(), data.encoding);
    clock.mark('encode');
    const gradientKey = this.keys.gradients(data.run, data.session, data.version, data.shard, this.id);
    await this.options.redis.set(gradientKey, payload, 'PX', this.options.policy.payloadTtlMs);
    const end = clock.mark('upload');

    this.stats.jobsCompleted++;
    this.stats.examples += refs.length;
    const seconds = (end - clock.started) / 1000;
    const phases = {
      weights: (computeStart - clock.started) / 1000,
      compute: (uploadStart - computeStart) / 1000,
      upload: (end - uploadStart) / 1000,
      detail: clock.durations(),
    };
    this.options.logger.debug({ ...log, examples: refs.length, bytes: stats.bytes, seconds, phases }, 'gradients uploaded');
    return {
      run: data.run,
      session: data.session,
      version: data.version,
      step: data.step,
      shard: data.shard,
      worker: this.id,
      gradientKey,
      bytes: stats.bytes,
      examples: refs.length,
      taskLossSums,
      labelCounts: shardLabelCounts,
      randomState: randomState ?? data.randomState,
      seconds,
      phases,
      startedAt: clock.started,
      finishedAt: end,
    };
  }

  /**
   * Adds one micro-batch's gradients into the job's sums and its loss sums and label
   * counts into the totals, and returns the generator state after its forward pass. Each
   * task's weight is scaled by the micro-batch's share of the batch's labelled examples, so
   * that the sum over every micro-batch of every shard is the gradient of the whole batch.
   */
  private computeMicroBatch(
    run: LoadedRun,
    data: GradientJobData,
    refs: ReturnType<typeof resolveExamples>,
    taskLossSums: Record<string, number>,
    shardLabelCounts: Record<string, number>,
    clock: PhaseClock,
  ): number[] {
    const { tasks, features } = run.description;
    // NOTE: this rebuilds next-event examples, as the random-prefix sampler makes them. A
    // sampler that builds its batches another way (masked events for Cloze) needs its own
    // recipe in the job payload; until then coordinator:start rejects other samplers.
    const batch = buildBatch(refs, features);
    const labels = buildLabels(refs, tasks);
    const counts = labelCounts(labels, tasks);
    const scaledWeights: Record<string, number> = {};
    for (const task of tasks) {
      const total = data.batchLabelCounts[task] ?? 0;
      scaledWeights[task] = total === 0 ? 0 : ((data.taskWeights[task] ?? 0) * counts[task]!) / total;
    }
    clock.mark('buildBatch');

    // Every micro-batch starts from the step's generator state, as the whole batch does
    // in a single process: the draws (dropout seeds, sampled negatives) do not depend on
    // the batch size, so each one draws the same negatives.
    const random = new Random(data.randomState);
    const computed = computeGradients(run.model, { batch, labels }, { taskWeights: scaledWeights, random });
    clock.mark('gradients');
    try {
      for (const [name, gradient] of computed.gradients) this.sums.add(name, gradient);
    } finally {
      disposeGradients(computed.gradients);
    }
    clock.mark('gatherGradients');
    for (const task of tasks) {
      taskLossSums[task]! += computed.taskLosses[task]! * counts[task]!;
      shardLabelCounts[task]! += counts[task]!;
    }
    return random.getState();
  }

  /**
   * Extends the job's lock and this worker's heartbeat to outlast the coming micro-batch,
   * during which the event loop, and with it BullMQ's lock renewal, is blocked. Without
   * it, a machine slow enough that one micro-batch outlasts lockDurationMs would see
   * every job taken for stalled.
   */
  private async extendForMicroBatch(job: Job<GradientJobData, GradientJobResult>, token: string | undefined): Promise<void> {
    const needed = Math.ceil(MICRO_BATCH_LOCK_FACTOR * this.longestMicroBatchMs);
    if (needed <= this.options.policy.lockDurationMs) return;
    if (token !== undefined) await job.extendLock(token, needed);
    await this.heartbeat.beat(needed);
  }

  /** Throws an UnrecoverableError when the job's weights version is not the current one. */
  private async rejectIfStale(data: GradientJobData, log: Record<string, unknown>): Promise<void> {
    const text = await this.options.redis.get(this.keys.currentVersion());
    const current = text === null ? null : (JSON.parse(text) as WeightsVersion);
    if (current !== null && sameVersion(current, data)) return;
    this.stats.staleJobsRejected++;
    const message = `stale gradient job: it asks for weights version ${formatVersion(data)}, but the current version is ${current === null ? 'none' : formatVersion(current)}`;
    this.options.logger.warn({ ...log, current: current === null ? null : formatVersion(current) }, 'stale gradient job rejected');
    throw new UnrecoverableError(message);
  }

  /** Returns the loaded run of `version`, loading its description, data and model when the run changed. */
  private async loadRun(version: WeightsVersion): Promise<LoadedRun> {
    if (this.loaded !== null && this.loaded.description.run === version.run && this.loaded.description.session === version.session) return this.loaded;

    const text = await this.options.redis.get(this.keys.run());
    if (text === null) throw new UnrecoverableError(`no run is published under prefix "${this.options.prefix}"; is the coordinator running?`);
    const description = JSON.parse(text) as RunDescription;
    if (description.run !== version.run || description.session !== version.session) {
      throw new UnrecoverableError(`the published run is ${description.run}/${description.session}, the job belongs to ${version.run}/${version.session}`);
    }

    const dataDir = this.options.dataDir ?? description.dataDir;
    const sameData = this.loaded !== null && this.loaded.data.dir === dataDir && this.loaded.data.manifest.fingerprint === description.fingerprint;
    const data = sameData ? this.loaded!.data : await (this.options.loadData ?? loadTrainingData)(dataDir);
    if (data.manifest.fingerprint !== description.fingerprint) {
      throw new UnrecoverableError(
        `${dataDir} has fingerprint ${data.manifest.fingerprint}, but run ${description.run} trains on ${description.fingerprint}; ` +
          'give the worker a copy of the same ingest output with --data',
      );
    }

    this.loaded?.model.dispose();
    const model = (this.options.createModel ?? ((run) => CustomerModel.create(run.modelConfig, 0)))(description);
    this.loaded = { description, data, model, version: null };
    this.options.logger.info({ worker: this.id, run: description.run, session: description.session, data: dataDir, customers: data.customers.length }, 'run loaded');
    return this.loaded;
  }

  /**
   * Sets the model's weights to `version` unless it has them already, taking them from a
   * prefetch of that version when one was started. A version no longer in Redis makes
   * the job stale.
   */
  private async loadWeights(run: LoadedRun, version: WeightsVersion, log: Record<string, unknown>, clock: PhaseClock): Promise<void> {
    if (run.version !== null && sameVersion(run.version, version)) return;

    // A failed prefetch is no reason to fail the job: it reads the weights itself.
    const pending = this.prefetcher.take(version);
    const prefetched = pending === null ? undefined : await pending.catch(() => undefined);
    if (pending !== null) clock.mark('weightsPrefetchWait');
    let payload = prefetched;
    if (payload === undefined) {
      payload = await this.options.redis.getBuffer(this.keys.weights(version.run, version.session, version.version));
      clock.mark('weightsFetch');
    }
    if (payload === null) {
      this.stats.staleJobsRejected++;
      this.options.logger.warn(log, 'stale gradient job rejected: its weights are no longer in Redis');
      throw new UnrecoverableError(`stale gradient job: the weights of version ${formatVersion(version)} are no longer in Redis`);
    }
    try {
      this.setWeights(run, version, payload);
    } catch (error) {
      // Reading the same key again would fail the same way, so BullMQ must not retry the job.
      // The coordinator stores the weights again before it redoes the shard.
      const key = this.keys.weights(version.run, version.session, version.version);
      throw new UnrecoverableError(`the weights of version ${formatVersion(version)} in ${key} cannot be loaded: ${(error as Error).message}`);
    }
    this.options.logger.debug({ ...log, prefetched: prefetched !== undefined }, 'weights loaded');
  }

  /**
   * Decodes a weights payload and sets the model's weights. `run.version` names no version
   * while the model is between two. The decoded arrays may be views of the aligner's
   * buffer, which is why they are set at once.
   */
  private setWeights(run: LoadedRun, version: WeightsVersion, payload: Buffer): void {
    run.version = null;
    run.model.setWeights(Object.fromEntries(decodeTensors(this.weightsAligner.align(payload))));
    run.version = { run: version.run, session: version.session, version: version.version };
  }

  /** Returns whether a prefetch of `version` is of use: its run is loaded here and the model has other weights. */
  private wantsWeights(version: WeightsVersion): boolean {
    const run = this.loaded;
    if (this.closing || run === null) return false;
    if (run.description.run !== version.run || run.description.session !== version.session) return false;
    return run.version === null || !sameVersion(run.version, version);
  }

  /**
   * Sets prefetched weights on the model at once when no job is running, so that the
   * version's job finds them in place. While a job runs, its model keeps its weights
   * and the next job of that version takes the prefetched ones (see loadWeights).
   */
  private setPrefetchedWeights(pending: PendingWeights, weights: FetchedWeights): void {
    if (this.busy || weights === null || !this.wantsWeights(pending.version)) return;
    this.prefetcher.release(pending);
    try {
      this.setWeights(this.loaded!, pending.version, weights);
    } catch (error) {
      // The version's job reads the weights again and fails with this error if it persists.
      this.options.logger.warn({ worker: this.id, version: formatVersion(pending.version), error: (error as Error).message }, 'prefetched weights could not be set; the job reads them itself');
      return;
    }
    this.options.logger.debug({ worker: this.id, version: formatVersion(pending.version) }, 'prefetched weights set while idle');
  }

  /** Moves the job back to the queue for another worker and ends its processing here. */
  private async handBack(job: Job<GradientJobData, GradientJobResult>, token: string | undefined, log: Record<string, unknown>): Promise<never> {
    await job.moveToWait(token);
    this.stats.jobsHandedBack++;
    this.options.logger.info(log, 'worker stopping: gradient job handed back to the queue');
    throw new WaitingError();
  }
}

function validateWorkerOptions(options: GradientWorkerOptions): void {
  if (options.microBatchDelayMs !== undefined && !(options.microBatchDelayMs >= 0)) {
    throw new Error(`microBatchDelayMs must be >= 0, got ${options.microBatchDelayMs}`);
  }
  if (options.id !== undefined && !/^[A-Za-z0-9._-]+$/.test(options.id)) {
    throw new Error(`worker id "${options.id}" may contain only letters, digits, '.', '_' and '-'`);
  }
}
