import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { GRADIENT_QUEUE, QueueKeys, type CoordinatorStatus, type GradientJobData, type WorkerInfo } from '@mcm/queue';

/** Most active jobs read per refresh; a run has one active job per worker, so this bounds the workers whose shard is shown. */
const MAX_ACTIVE_JOBS = 500;

/** The job states whose counts the dashboard shows. */
const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;

/** An active worker as the dashboard lists it. */
export interface WorkerRow extends WorkerInfo {
  /** The shard the worker computes now; null when it waits for a job. */
  currentShard: { step: number; shard: number; shardCount: number } | null;
}

/** The coordinator's part of the dashboard. */
export interface CoordinatorView {
  state: CoordinatorStatus['state'];
  session: string;
  step: number;
  weightsVersion: string | null;
  workers: WorkerRow[];
  /** Job state -> number of gradient jobs in it. */
  queue: Record<string, number>;
}

/** The coordinator's Redis client, queue prefix and status, lent to the dashboard. */
export interface CoordinatorSource {
  redis: Redis;
  prefix: string;
  status: () => CoordinatorStatus;
}

/**
 * Reads the workers, their current shards and the queue depth of a distributed run
 * from Redis, without writing to it: expired workers are skipped, not removed from
 * the set (the coordinator does that).
 */
export class CoordinatorMonitor {
  readonly queue: Queue<GradientJobData>;
  private readonly keys: QueueKeys;

  constructor(private readonly source: CoordinatorSource) {
    this.keys = new QueueKeys(source.prefix);
    // The queue shares the coordinator's client; closing the queue leaves that client open.
    this.queue = new Queue(GRADIENT_QUEUE, { connection: source.redis, prefix: source.prefix });
  }

  async read(): Promise<CoordinatorView> {
    const status = this.source.status();
    const workers = await this.readWorkers();
    const counts = await this.queue.getJobCounts(...JOB_STATES);
    const shards = await this.readCurrentShards();
    return {
      state: status.state,
      session: status.session,
      step: status.step,
      weightsVersion: status.weightsVersion,
      workers: workers.map((worker) => ({ ...worker, currentShard: shards.get(worker.id) ?? null })),
      queue: counts,
    };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  /** Returns the workers whose heartbeat key exists, sorted by id. */
  private async readWorkers(): Promise<WorkerInfo[]> {
    const ids = (await this.source.redis.smembers(this.keys.workers())).sort();
    if (ids.length === 0) return [];
    const records = await this.source.redis.mget(ids.map((id) => this.keys.worker(id)));
    return records.filter((record) => record !== null).map((record) => JSON.parse(record) as WorkerInfo);
  }

  /** Returns worker id -> the shard of the job it holds, from BullMQ's active jobs, which record the worker's name. */
  private async readCurrentShards(): Promise<Map<string, WorkerRow['currentShard']>> {
    const shards = new Map<string, WorkerRow['currentShard']>();
    const jobs = await this.queue.getActive(0, MAX_ACTIVE_JOBS - 1);
    for (const job of jobs) {
      if (job?.processedBy === undefined) continue;
      shards.set(job.processedBy, { step: job.data.step, shard: job.data.shard, shardCount: job.data.shardCount });
    }
    return shards;
  }
}
