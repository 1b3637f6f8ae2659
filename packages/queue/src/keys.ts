/** Name of the BullMQ queue of gradient jobs; BullMQ's own keys live under `<prefix>:gradients:`. */
export const GRADIENT_QUEUE = 'gradients';

/** Name of the BullMQ queue of the nightly pre-training jobs. */
export const NIGHTLY_QUEUE = 'nightly';

/** The default BullMQ prefix. Put it in braces (`{mcm}`) on Redis Cluster, so that every key hashes to one slot. */
export const DEFAULT_PREFIX = 'mcm';

/**
 * The Redis keys of the distributed run, beside BullMQ's under the same prefix, so that
 * one prefix contains one deployment and a test can use its own.
 */
export class QueueKeys {
  constructor(readonly prefix: string) {
    if (prefix === '' || /\s/.test(prefix)) throw new Error(`queue prefix must be a non-empty word without spaces, got "${prefix}"`);
  }

  /** Returns the key of the set of ids of the workers that sent a heartbeat. */
  workers(): string {
    return `${this.prefix}:workers`;
  }

  /** Returns the key of a worker's heartbeat, which has a time to live. */
  worker(id: string): string {
    return `${this.prefix}:worker:${id}`;
  }

  /** Returns the key of the lock that allows one coordinator per prefix. */
  coordinatorLock(): string {
    return `${this.prefix}:coordinator`;
  }

  /** Returns the key of the current run's description for workers (model, data), as JSON. */
  run(): string {
    return `${this.prefix}:run`;
  }

  /** Returns the key of the weights version that gradient jobs must be computed on now, as JSON. */
  currentVersion(): string {
    return `${this.prefix}:version`;
  }

  /** Returns the pub/sub channel on which the coordinator announces each weights version it publishes, as JSON. */
  weightsPublished(): string {
    return `${this.prefix}:weights-published`;
  }

  /** Returns the key of the weights of one version, as a tensor payload. */
  weights(run: string, session: string, version: number): string {
    return `${this.prefix}:weights:${run}:${session}:${version}`;
  }

  /** Returns the key of one worker's gradients of one shard of one step, as a tensor payload. */
  gradients(run: string, session: string, version: number, shard: number, worker: string): string {
    return `${this.prefix}:gradients:${run}:${session}:${version}:${shard}:${worker}`;
  }
}
