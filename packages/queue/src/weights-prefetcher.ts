import type { Redis } from 'ioredis';
import type { Logger } from '@mcm/common';
import type { QueueKeys } from './keys.ts';
import { formatVersion, sameVersion, type WeightsVersion } from './payloads.ts';
import { repeatLimitedWarning } from './repeat-limited-log.ts';
import { readPayloadHeader } from './tensor-payload.ts';

/**
 * The weights payload of one version, its header checked, or null when its key was gone
 * from Redis. The worker decodes it when it sets the weights, into a buffer it keeps.
 */
export type FetchedWeights = Buffer | null;

/** A read of one weights version, started when the coordinator announced it. */
export interface PendingWeights {
  version: WeightsVersion;
  weights: Promise<FetchedWeights>;
}

/**
 * Reads each weights version as soon as the coordinator announces it on the
 * weights channel, so that an idle worker has the weights in hand before the version's
 * job arrives. It never touches a model: `onFetched` is called with the weights and the
 * worker decides whether it may set them now. A message lost while Redis reconnects only
 * costs the speed-up, because a job whose weights were not prefetched reads them itself.
 */
export class WeightsPrefetcher {
  private subscriber: Redis | null = null;
  private pending: PendingWeights | null = null;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly logger: Logger,
    private readonly workerId: string,
    /** Returns whether the worker wants `version`: it has its run loaded and not these weights yet. */
    private readonly wants: (version: WeightsVersion) => boolean,
    private readonly onFetched: (pending: PendingWeights, weights: FetchedWeights) => void,
  ) {}

  /** Subscribes to the weights channel on a connection of its own, which pub/sub requires. */
  async start(): Promise<void> {
    const subscriber = this.redis.duplicate();
    this.subscriber = subscriber;
    // ioredis reconnects and subscribes again by itself, so an error is only logged.
    const subscriberError = repeatLimitedWarning(this.logger, 'weights announcement connection error; jobs read their weights themselves until it recovers');
    subscriber.on('error', (error: Error) => subscriberError({ worker: this.workerId, error: error.message }));
    subscriber.on('message', (_channel: string, message: string) => this.announced(message));
    await subscriber.subscribe(this.keys.weightsPublished());
  }

  /** Unsubscribes and closes the connection; calling it again does nothing. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.pending = null;
    const subscriber = this.subscriber;
    this.subscriber = null;
    if (subscriber === null) return;
    try {
      await subscriber.quit();
    } catch {
      subscriber.disconnect();
    }
  }

  /** Returns the read of `version` started by an announcement and drops it from the prefetcher, or null when there is none. */
  take(version: WeightsVersion): Promise<FetchedWeights> | null {
    if (this.pending === null || !sameVersion(this.pending.version, version)) return null;
    const { weights } = this.pending;
    this.pending = null;
    return weights;
  }

  /** Drops `pending` if it is still the latest read, once the worker has set its weights. */
  release(pending: PendingWeights): void {
    if (this.pending === pending) this.pending = null;
  }

  private announced(message: string): void {
    if (this.stopped) return;
    let version: WeightsVersion;
    try {
      version = JSON.parse(message) as WeightsVersion;
    } catch {
      this.logger.warn({ worker: this.workerId, message }, 'invalid weights announcement ignored; expected a JSON weights version');
      return;
    }
    if (this.pending !== null && sameVersion(this.pending.version, version)) return;
    if (!this.wants(version)) return;

    const pending: PendingWeights = { version, weights: this.fetch(version) };
    this.pending = pending;
    pending.weights.then(
      (weights) => {
        // A newer announcement replaced this read, so its weights would only be overwritten.
        if (!this.stopped && this.pending === pending) this.onFetched(pending, weights);
      },
      (error: unknown) => {
        this.release(pending);
        this.logger.warn({ worker: this.workerId, version: formatVersion(version), error: (error as Error).message }, 'weights prefetch failed; the job reads them itself');
      },
    );
  }

  private async fetch(version: WeightsVersion): Promise<FetchedWeights> {
    const payload = await this.redis.getBuffer(this.keys.weights(version.run, version.session, version.version));
    if (payload !== null) readPayloadHeader(payload);
    return payload;
  }
}
