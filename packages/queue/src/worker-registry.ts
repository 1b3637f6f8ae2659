import type { Redis } from 'ioredis';
import type { Logger } from '@mcm/common';
import type { QueueKeys } from './keys.ts';
import type { WorkerInfo } from './payloads.ts';
import type { QueuePolicy } from './policy.ts';

/**
 * A worker's presence in Redis: a key with a time to live, renewed every heartbeat, and
 * the worker's id in a set. The coordinator cuts each step into one shard per worker
 * whose key exists. A worker that stops cleanly deletes its key at once; a crashed one
 * drops out when the key expires.
 */
export class WorkerHeartbeat {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly info: WorkerInfo,
    private readonly policy: QueuePolicy,
    private readonly logger: Logger,
  ) {}

  /** Sends the first heartbeat and schedules the next ones. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch((error: unknown) => this.logger.warn({ worker: this.info.id, error: (error as Error).message }, 'heartbeat failed; retrying at the next interval'));
    }, this.policy.heartbeatIntervalMs);
    this.timer.unref();
  }

  /** Stops the heartbeats and removes the worker from the active set; calling it again does nothing. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    await this.redis.multi().del(this.keys.worker(this.info.id)).srem(this.keys.workers(), this.info.id).exec();
  }

  /**
   * Sends one heartbeat that lasts `ttlMs` (at least the policy's time to live). A worker
   * about to block its event loop for a long micro-batch, when the timer cannot fire,
   * sends one that outlasts it.
   */
  async beat(ttlMs = this.policy.heartbeatTtlMs): Promise<void> {
    if (this.stopped) return;
    await this.redis
      .multi()
      .set(this.keys.worker(this.info.id), JSON.stringify({ ...this.info, heartbeatAt: new Date().toISOString() }), 'PX', Math.ceil(Math.max(ttlMs, this.policy.heartbeatTtlMs)))
      .sadd(this.keys.workers(), this.info.id)
      .exec();
  }
}

/** Returns the workers whose heartbeat has not expired, sorted by id, and removes the others from the set. */
export async function activeWorkers(redis: Redis, keys: QueueKeys): Promise<WorkerInfo[]> {
  const ids = (await redis.smembers(keys.workers())).sort();
  if (ids.length === 0) return [];
  const records = await redis.mget(ids.map((id) => keys.worker(id)));
  const active: WorkerInfo[] = [];
  const gone: string[] = [];
  ids.forEach((id, i) => {
    const record = records[i];
    if (record === null || record === undefined) gone.push(id);
    else active.push(JSON.parse(record) as WorkerInfo);
  });
  if (gone.length > 0) await redis.srem(keys.workers(), ...gone);
  return active;
}
