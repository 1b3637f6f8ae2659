import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '@mcm/common';
import { valuesView } from '@mcm/model';
import { applyGradients, disposeGradients, type AdamW, type SampledBatch, type StepOptions, type StepResult, type TrainableModel, type TrainingData } from '@mcm/training';
import { CoordinatorLock } from './coordinator-lock.ts';
import { DEFAULT_PREFIX, GRADIENT_QUEUE, QueueKeys } from './keys.ts';
import {
  formatVersion,
  gradientJobId,
  sameVersion,
  type GradientEncoding,
  type GradientJobData,
  type GradientJobResult,
  type RunDescription,
  type WeightsVersion,
  type WorkerInfo,
} from './payloads.ts';
import type { QueuePolicy } from './policy.ts';
import { epochMs, PhaseClock } from './phase-clock.ts';
import { checkNoEviction } from './redis.ts';
import { repeatLimitedWarning } from './repeat-limited-log.ts';
import { labelCounts, planShards, type BatchShard } from './shard-plan.ts';
import { addTensors, TensorEncoder, type NamedArray } from './tensor-payload.ts';
import { activeWorkers } from './worker-registry.ts';

export interface CoordinatorOptions {
  /** A connected client (see connectRedis); the coordinator duplicates it for event reads and never closes it. */
  redis: Redis;
  prefix: string;
  policy: QueuePolicy;
  logger: Logger;
  /** The run's id, e.g. the run directory's name. */
  run: string;
  data: TrainingData;
  /** The model and task description workers need; the coordinator fills in `run`, `session`, `dataDir` and `fingerprint`. */
  description: Omit<RunDescription, 'run' | 'session' | 'dataDir' | 'fingerprint'>;
  /** Micro-batches each worker cuts its shard into. */
  microBatches: number;
  encoding: GradientEncoding;
}

/** The coordinator's state as the status endpoint reports it. */
export interface CoordinatorStatus {
  run: string;
  session: string;
  state: 'starting' | 'waiting-for-workers' | 'training' | 'stopped';
  step: number;
  weightsVersion: string | null;
  workers: WorkerInfo[];
  queue: Record<string, number>;
  lastStep: Record<string, unknown> | null;
  startedAt: string;
}

/** A shard's job in flight. */
interface Dispatched {
  shard: BatchShard;
  redo: number;
}

/** Seconds between two "still waiting" log lines of a step. */
const WAIT_LOG_INTERVAL_MS = 10_000;

/**
 * The coordinator's side of synchronous data parallelism. Its `step` is a drop-in
 * StepFunction for the trainer. It publishes the current weights, cuts the batch into one
 * shard per active worker and adds one BullMQ job per shard. It then waits until every
 * shard has gradients of the current weights version and sums them, because each shard's
 * gradients are already scaled by its share of the batch. The update runs through the
 * same `applyGradients` as in the single-process trainer. A shard whose job fails, is
 * lost or returns gradients of another weights version is logged and dispatched again.
 */
export class GradientCoordinator {
  readonly session: string;
  private readonly keys: QueueKeys;
  private readonly queue: Queue<GradientJobData, GradientJobResult>;
  private readonly events: QueueEvents;
  private readonly description: RunDescription;
  private lock: CoordinatorLock | null = null;
  private lockLost = false;
  private wake: (() => void) | null = null;
  private readonly completed = new Map<string, GradientJobResult>();
  /** When the completion event of each job in `completed` arrived, in epoch milliseconds. */
  private readonly completedAt = new Map<string, number>();
  private readonly failed = new Map<string, string>();
  private current: WeightsVersion | null = null;
  /**
   * Buffers kept from step to step, so that a step allocates no memory for its payloads:
   * the weights' encoder, and the arrays the shards' gradients are summed into.
   */
  private readonly weightsEncoder = new TensorEncoder();
  private sumArrays = new Map<string, NamedArray>();
  private closed: Promise<void> | null = null;
  private statusRecord: CoordinatorStatus;

  private constructor(private readonly options: CoordinatorOptions) {
    validateCoordinatorOptions(options);
    this.session = randomBytes(4).toString('hex');
    this.keys = new QueueKeys(options.prefix);
    this.description = {
      ...options.description,
      run: options.run,
      session: this.session,
      dataDir: options.data.dir,
      fingerprint: options.data.manifest.fingerprint,
    };
    this.queue = new Queue(GRADIENT_QUEUE, { connection: options.redis, prefix: options.prefix });
    this.events = new QueueEvents(GRADIENT_QUEUE, { connection: options.redis, prefix: options.prefix, autorun: false });
    this.statusRecord = {
      run: options.run,
      session: this.session,
      state: 'starting',
      step: 0,
      weightsVersion: null,
      workers: [],
      queue: {},
      lastStep: null,
      startedAt: new Date().toISOString(),
    };

    this.events.on('completed', ({ jobId, returnvalue }) => {
      const result = typeof returnvalue === 'string' ? (JSON.parse(returnvalue) as GradientJobResult | null) : (returnvalue as GradientJobResult | null);
      // A job without a return value is left to the poll of the jobs in flight.
      if (result === null || result === undefined) return;
      this.completed.set(jobId, result);
      this.completedAt.set(jobId, epochMs());
      this.wake?.();
    });
    this.events.on('failed', ({ jobId, failedReason }) => {
      this.failed.set(jobId, failedReason);
      this.wake?.();
    });
    this.events.on('stalled', ({ jobId }) => {
      options.logger.warn({ job: jobId }, 'gradient job stalled: its worker is gone, so the job goes back to the queue to be redone');
    });
    const eventError = repeatLimitedWarning(options.logger, 'queue event stream error');
    this.events.on('error', (error) => eventError({ error: error.message }));
    const queueError = repeatLimitedWarning(options.logger, 'gradient queue error');
    this.queue.on('error', (error) => queueError({ error: error.message }));
  }

  /**
   * Checks that Redis never evicts keys, takes the coordinator lock of the prefix,
   * removes jobs that earlier invocations left in the queue, publishes the run for the
   * workers and starts listening for results.
   */
  static async start(options: CoordinatorOptions): Promise<GradientCoordinator> {
    const { redis, logger, policy } = options;
    await checkNoEviction(redis);
    const coordinator = new GradientCoordinator(options);
    try {
      coordinator.lock = await CoordinatorLock.acquire(redis, coordinator.keys, coordinator.session, policy, logger, () => {
        coordinator.lockLost = true;
        coordinator.wake?.();
      });
    } catch (error) {
      await coordinator.events.close();
      await coordinator.queue.close();
      throw error;
    }

    const left = await coordinator.queue.getJobCounts('waiting', 'delayed', 'prioritized');
    await coordinator.queue.drain(true);
    if (Object.values(left).some((count) => count > 0)) logger.info({ removed: left }, 'removed gradient jobs left by an earlier coordinator');
    await redis.del(coordinator.keys.currentVersion());
    await redis.set(coordinator.keys.run(), JSON.stringify(coordinator.description));

    await coordinator.queue.waitUntilReady();
    void coordinator.events.run().catch((error: unknown) => logger.error({ error: (error as Error).message }, 'queue event listener stopped'));
    await coordinator.events.waitUntilReady();
    logger.info({ run: options.run, session: coordinator.session, prefix: options.prefix }, 'coordinator started');
    return coordinator;
  }

  /** The trainer's step function; see the class comment. */
  readonly step = async (model: TrainableModel, optimizer: AdamW, sampled: SampledBatch, options: StepOptions): Promise<StepResult> => {
    if (this.closed !== null) throw new Error('the coordinator is closed');
    const clock = new PhaseClock();
    const version: WeightsVersion = { run: this.options.run, session: this.session, version: optimizer.step };
    // The worker list is read while the weights are stored, so that its round trips overlap the transaction.
    const firstLook = activeWorkers(this.options.redis, this.keys).catch(() => null);
    const weightsBytes = await this.publishWeights(model, version, clock);

    const { workers, waited } = await this.waitForWorkers(options.step, await firstLook);
    clock.mark('workers');
    // The weights expire payloadTtlMs after they are stored, and the wait has no end.
    if (waited) await this.publishWeights(model, version, clock);
    const shards = planShards(sampled, this.options.data, workers.length);
    const tasks = Object.keys(options.taskWeights);
    const batchLabelCounts = labelCounts(sampled.labels, tasks);
    const randomState = options.random.getState();
    const jobData = (shard: BatchShard): GradientJobData => ({
      ...version,
      step: options.step,
      shard: shard.shard,
      shardCount: shards.length,
      examples: shard.examples,
      taskWeights: options.taskWeights,
      batchLabelCounts,
      microBatches: this.options.microBatches,
      randomState,
      encoding: this.options.encoding,
    });

    this.statusRecord.state = 'training';
    this.statusRecord.step = options.step;
    const dispatchStart = clock.mark('plan');
    // A shard is redone after its job failed, perhaps because the stored weights were lost or
    // damaged, so they are stored again from the model before each redo.
    const republish = () => this.publishWeights(model, version, new PhaseClock());
    const { results, payloads, redone, queueCounts, latencies } = await this.collect(version, shards, jobData, options.step, clock, republish);

    const sumStart = clock.mark('wait');
    // The gradient keys are deleted while the update runs; the payloads are in hand already.
    const gradientsDeleted = this.options.redis.del(...results.map((result) => result.gradientKey));
    gradientsDeleted.catch(() => {});
    const { sums, bytes } = sumPayloads(payloads, this.sumArrays);
    this.sumArrays = sums;
    const taskLosses: Record<string, number> = {};
    let loss = 0;
    for (const task of tasks) {
      const lossSum = results.reduce((sum, result) => sum + (result.taskLossSums[task] ?? 0), 0);
      taskLosses[task] = batchLabelCounts[task] === 0 ? 0 : lossSum / batchLabelCounts[task]!;
      loss += options.taskWeights[task]! * taskLosses[task]!;
    }

    // On the cpu backend these tensors share the arrays of `sums`, which the next step
    // reuses; they are disposed once the update has run.
    const gradients = new Map<string, tf.Tensor>();
    for (const [name, sum] of sums) {
      if (!model.variables.has(name)) throw new Error(`a worker sent gradients for "${name}", which is not a variable of the model`);
      gradients.set(name, tf.tensor(sum.values, sum.shape, 'float32'));
    }
    const updateStart = clock.mark('sum');
    let update: { gradientNorm: number; clipped: boolean };
    try {
      update = applyGradients(optimizer, { taskLosses, loss, gradients }, {
        learningRate: options.learningRate,
        clipNorm: options.clipNorm,
        step: options.step,
        customerIds: sampled.customerIds,
      });
    } finally {
      disposeGradients(gradients);
    }
    clock.mark('update');
    await gradientsDeleted;
    const end = clock.mark('deleteGradients');
    const start = clock.started;

    const slowest = results.reduce((a, b) => (b.seconds > a.seconds ? b : a));
    const workerSeconds = slowest.seconds;
    const record = {
      workers: workers.length,
      shards: shards.length,
      examples: results.reduce((sum, result) => sum + result.examples, 0),
      redoneShards: redone,
      gradientBytes: bytes,
      weightsBytes,
      queueDepth: queueCounts.waiting ?? 0,
      failedJobs: queueCounts.failed ?? 0,
      workerSeconds,
      workerPhases: slowest.phases,
      // Time the step spent on anything but the slowest worker's computation: publishing, queueing, transfers, summing.
      overheadSeconds: Math.max(0, (end - start) / 1000 - workerSeconds),
      // Where the coordinator's time went: publishing the weights, waiting for the shards, summing them, updating.
      coordinatorPhases: {
        publish: (dispatchStart - start) / 1000,
        wait: (sumStart - dispatchStart) / 1000,
        sum: (updateStart - sumStart) / 1000,
        update: (end - updateStart) / 1000,
        detail: clock.durations(),
      },
      // Delays of the shard that finished last, in seconds: from the dispatch to its worker's
      // start, from its worker's end to the coordinator's event, and reading its gradients.
      queueLatencies: latencies,
    };
    this.statusRecord.lastStep = { step: options.step, loss, taskLosses, ...record };
    this.statusRecord.queue = queueCounts;
    return { taskLosses, loss, ...update, randomState: this.randomStateAfter(results, options.step), record };
  };

  /** Returns the status endpoint's record. */
  status(): CoordinatorStatus {
    return structuredClone(this.statusRecord);
  }

  /**
   * Stops listening, withdraws the run (so idle workers reject leftover jobs as stale),
   * removes the completed jobs and releases the lock. Calling it again returns the same
   * promise.
   */
  close(): Promise<void> {
    this.closed ??= this.shutDown();
    return this.closed;
  }

  private async shutDown(): Promise<void> {
    this.statusRecord.state = 'stopped';
    this.wake?.();
    const { redis, logger } = this.options;
    try {
      if (this.lock !== null && !this.lockLost) {
        await this.queue.drain(true);
        // Completed gradient jobs are of no use once the run stops; failed ones stay for inspection.
        await this.queue.clean(0, 0, 'completed');
        await redis.del(this.keys.currentVersion(), this.keys.run());
        if (this.current !== null) await redis.del(this.keys.weights(this.current.run, this.current.session, this.current.version));
      }
    } catch (error) {
      logger.warn({ error: (error as Error).message }, 'could not withdraw the run from Redis; its keys expire on their own');
    }
    await this.events.close();
    await this.queue.close();
    await this.lock?.release().catch((error: unknown) => logger.warn({ error: (error as Error).message }, 'could not release the coordinator lock; it expires on its own'));
    logger.info({ run: this.options.run, session: this.session }, 'coordinator stopped');
  }

  /**
   * Stores the model's weights as `version`, makes it the current version, deletes the
   * previous one and announces the new one on the weights channel, in one transaction.
   * The announcement lets idle workers read the weights while the jobs are dispatched.
   * Returns the bytes stored.
   */
  private async publishWeights(model: TrainableModel, version: WeightsVersion, clock: PhaseClock): Promise<number> {
    const { redis, policy } = this.options;
    // Views of the weights in place, so that each is copied once, into the payload. They
    // stay valid because no tensor operation runs before the encoding ends.
    const weights = new Map<string, NamedArray>();
    for (const [name, variable] of model.variables) weights.set(name, { shape: variable.shape.slice(), values: valuesView(variable) });
    clock.mark('getWeights');
    // A view of the encoder's buffer, which the next step reuses once this transaction has finished.
    const { payload } = this.weightsEncoder.encode(weights, { sparseRows: false, denseFloat16: false });
    clock.mark('encodeWeights');
    const transaction = redis
      .multi()
      .set(this.keys.weights(version.run, version.session, version.version), payload, 'PX', policy.payloadTtlMs)
      .set(this.keys.currentVersion(), JSON.stringify(version));
    if (this.current !== null && !sameVersion(this.current, version)) {
      transaction.del(this.keys.weights(this.current.run, this.current.session, this.current.version));
    }
    await transaction.publish(this.keys.weightsPublished(), JSON.stringify(version)).exec();
    clock.mark('setWeights');
    this.current = version;
    this.statusRecord.weightsVersion = formatVersion(version);
    return payload.byteLength;
  }

  /**
   * Returns the active workers, waiting (and logging every few seconds) while there is
   * none, and whether it waited. `firstLook` is a list read just before, used in place of
   * the first read unless it is null (the read failed) or empty.
   */
  private async waitForWorkers(step: number, firstLook: WorkerInfo[] | null = null): Promise<{ workers: WorkerInfo[]; waited: boolean }> {
    // NOTE: the wait has no deadline. `--budget-minutes` does not end it, and the time
    // spent waiting counts against the budget of the step that waited.
    let lastLog = 0;
    let known = firstLook;
    const prefixOption = this.options.prefix === DEFAULT_PREFIX ? '' : ` --queue-prefix ${this.options.prefix}`;
    for (let round = 0; ; round++) {
      this.throwIfStopped();
      const workers = known !== null && known.length > 0 ? known : await activeWorkers(this.options.redis, this.keys);
      known = null;
      this.statusRecord.workers = workers;
      if (workers.length > 0) return { workers, waited: round > 0 };
      this.statusRecord.state = 'waiting-for-workers';
      if (Date.now() - lastLog >= WAIT_LOG_INTERVAL_MS) {
        this.options.logger.info({ step, prefix: this.options.prefix }, `waiting for a worker: start one with "npx nx run trainer:worker${prefixOption}"`);
        lastLog = Date.now();
      }
      await sleep(Math.min(this.options.policy.heartbeatIntervalMs, 500));
    }
  }

  /**
   * Adds one job per shard and waits until each shard has an accepted result and its
   * payload. A job that fails for good, disappears (Redis lost it), returns gradients of
   * another weights version or names a payload that is gone is replaced by a new job for
   * the same shard, at most `shardRedoLimit` times per shard.
   */
  private async collect(
    version: WeightsVersion,
    shards: BatchShard[],
    jobData: (shard: BatchShard) => GradientJobData,
    step: number,
    clock: PhaseClock,
    republish: () => Promise<unknown>,
  ): Promise<{ results: GradientJobResult[]; payloads: Buffer[]; redone: number; queueCounts: Record<string, number>; latencies: Record<string, number> }> {
    const { logger, policy } = this.options;
    const inFlight = new Map<string, Dispatched>();
    const accepted = new Map<number, { result: GradientJobResult; payload: Buffer }>();
    let redone = 0;
    const latencies: Record<string, number> = {};

    const job = (shard: BatchShard, redo: number) => {
      const id = gradientJobId(version, shard.shard, redo);
      inFlight.set(id, { shard, redo });
      return {
        name: 'gradients',
        data: jobData(shard),
        opts: {
          jobId: id,
          attempts: policy.attempts,
          backoff: { type: 'exponential', delay: policy.backoffMs },
          // Finished jobs stay an hour (failed ones a day) for inspection, then BullMQ removes them.
          removeOnComplete: { age: 3600, count: 1000 },
          removeOnFail: { age: 24 * 3600 },
        },
      };
    };
    const dispatch = async (shard: BatchShard, redo: number) => {
      const { name, data, opts } = job(shard, redo);
      await this.queue.add(name, data, opts);
    };
    const redoShard = async (id: string, reason: string) => {
      const { shard, redo } = inFlight.get(id)!;
      inFlight.delete(id);
      if (redo + 1 > policy.shardRedoLimit) {
        throw new Error(`shard ${shard.shard} of step ${step} failed ${redo + 1} times (last: ${reason}); check the workers' logs`);
      }
      redone++;
      logger.warn({ step, shard: shard.shard, job: id, redo: redo + 1, reason }, 'dispatching the shard again, with the weights stored again');
      await republish();
      await dispatch(shard, redo + 1);
    };

    const dispatchedAt = epochMs();
    await this.queue.addBulk(shards.map((shard) => job(shard, 0)));
    clock.mark('addBulk');
    // Jobs waiting right after the dispatch: more than this step's shards means leftovers or
    // too few workers. Only the step record uses them, so the step does not wait for them here.
    const queueCountsRead = this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
    queueCountsRead.catch(() => {});

    let lastPoll = Date.now();
    let lastLog = Date.now();
    while (accepted.size < shards.length) {
      this.throwIfStopped();
      for (const [id, result] of [...this.completed]) {
        const seenAt = this.completedAt.get(id) ?? epochMs();
        this.completed.delete(id);
        this.completedAt.delete(id);
        const dispatched = inFlight.get(id);
        if (dispatched === undefined) continue;
        if (!sameVersion(result, version) || result.shard !== dispatched.shard.shard) {
          logger.warn(
            { step, shard: dispatched.shard.shard, job: id, worker: result.worker, received: formatVersion(result), expected: formatVersion(version) },
            'stale gradients rejected: computed on another weights version',
          );
          await this.options.redis.del(result.gradientKey);
          await redoShard(id, `gradients of version ${formatVersion(result)}`);
          continue;
        }
        const fetchStart = epochMs();
        const payload = await this.options.redis.getBuffer(result.gradientKey);
        if (result.startedAt !== undefined && result.finishedAt !== undefined) {
          latencies.pickup = (result.startedAt - dispatchedAt) / 1000;
          latencies.report = (seenAt - result.finishedAt) / 1000;
        }
        latencies.fetchGradients = (epochMs() - fetchStart) / 1000;
        if (payload === null) {
          logger.warn({ step, shard: dispatched.shard.shard, job: id, key: result.gradientKey }, 'gradient payload lost: its key is no longer in Redis');
          await redoShard(id, 'the gradient payload is no longer in Redis');
          continue;
        }
        inFlight.delete(id);
        accepted.set(dispatched.shard.shard, { result, payload });
      }
      for (const [id, reason] of [...this.failed]) {
        this.failed.delete(id);
        if (!inFlight.has(id)) continue;
        const state = await this.queue.getJobState(id);
        // A failed attempt with attempts left goes to delayed or waiting and is retried by BullMQ.
        if (state === 'failed') await redoShard(id, reason);
        else logger.info({ step, job: id, state, reason }, 'gradient job attempt failed; BullMQ retries it');
      }

      if (Date.now() - lastPoll >= policy.pollIntervalMs) {
        lastPoll = Date.now();
        await this.pollInFlight(inFlight, redoShard);
      }
      if (Date.now() - lastLog >= WAIT_LOG_INTERVAL_MS) {
        lastLog = Date.now();
        const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed');
        logger.info({ step, waitingFor: inFlight.size, queue: counts }, 'step waiting for gradients');
      }
      if (accepted.size < shards.length && this.completed.size === 0 && this.failed.size === 0) await this.waitForEvent(policy.pollIntervalMs);
    }
    const queueCounts = await queueCountsRead;
    const ordered = shards.map((shard) => accepted.get(shard.shard)!);
    return { results: ordered.map((entry) => entry.result), payloads: ordered.map((entry) => entry.payload), redone, queueCounts, latencies };
  }

  /** Reads the state of every job in flight, for results whose event was missed and jobs that Redis lost. */
  private async pollInFlight(inFlight: Map<string, Dispatched>, redoShard: (id: string, reason: string) => Promise<void>): Promise<void> {
    for (const id of [...inFlight.keys()]) {
      // The state first: a job read before it completes would carry no return value.
      const state = await this.queue.getJobState(id);
      if (state === 'unknown') {
        this.options.logger.warn({ job: id }, 'gradient job lost: it is no longer in Redis');
        await redoShard(id, 'the job is no longer in Redis');
        continue;
      }
      if (state !== 'completed' && state !== 'failed') continue;
      const job = await Job.fromId<GradientJobData, GradientJobResult>(this.queue, id);
      if (state === 'completed' && job?.returnvalue != null && !this.completed.has(id)) this.completed.set(id, job.returnvalue);
      if (state === 'failed' && job !== undefined && !this.failed.has(id)) this.failed.set(id, job.failedReason);
    }
  }

  /** Returns the generator state every shard ended in, warning when they differ. */
  private randomStateAfter(results: GradientJobResult[], step: number): number[] {
    const first = results[0]!.randomState;
    if (results.some((result) => result.randomState.join(',') !== first.join(','))) {
      this.options.logger.warn({ step }, 'shards ended in different generator states; continuing from shard 0');
    }
    return first;
  }

  private waitForEvent(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.wake = done;
    });
  }

  private throwIfStopped(): void {
    if (this.lockLost) throw new Error('the coordinator lost its lock to another coordinator; this run stops');
    if (this.closed !== null) throw new Error('the coordinator is closed');
  }
}

function validateCoordinatorOptions(options: CoordinatorOptions): void {
  if (!Number.isInteger(options.microBatches) || options.microBatches < 1) throw new Error(`micro-batches must be a positive integer, got ${options.microBatches}`);
  if (options.run === '' || !/^[A-Za-z0-9._-]+$/.test(options.run)) {
    throw new Error(`run id "${options.run}" may contain only letters, digits, '.', '_' and '-'`);
  }
}

/**
 * Sums the shards' gradient payloads in shard order, so that the sum does not depend on
 * the order of arrival. The sums reuse the arrays of `spare`, the previous step's.
 */
function sumPayloads(payloads: Buffer[], spare: ReadonlyMap<string, NamedArray>): { sums: Map<string, NamedArray>; bytes: number } {
  const sums = new Map<string, NamedArray>();
  let bytes = 0;
  for (const payload of payloads) {
    addTensors(sums, payload, spare);
    bytes += payload.byteLength;
  }
  return { sums, bytes };
}
