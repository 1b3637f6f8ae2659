import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from '@mcm/common';
import type { QueueKeys } from './keys.ts';
import type { QueuePolicy } from './policy.ts';

/** The coordinator that holds the lock. */
export interface LockHolder {
  session: string;
  host: string;
  pid: number;
  since: string;
}

// Renews the lock only while it still holds this coordinator's value.
const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * The lock that lets one coordinator at a time drive the workers of a prefix. It
 * expires `coordinatorLockTtlMs` after its holder stops renewing it; a coordinator on
 * the same host whose process is gone (killed) is taken over at once.
 */
export class CoordinatorLock {
  private timer: NodeJS.Timeout | null = null;
  private released = false;
  private readonly value: string;

  private constructor(
    private readonly redis: Redis,
    private readonly key: string,
    readonly holder: LockHolder,
    private readonly policy: QueuePolicy,
    private readonly logger: Logger,
  ) {
    this.value = JSON.stringify(holder);
  }

  /**
   * Takes the lock of `keys`' prefix. It waits up to the lock's time to live for the lock
   * of a crashed holder to expire, and throws when a live coordinator still has it.
   */
  static async acquire(redis: Redis, keys: QueueKeys, session: string, policy: QueuePolicy, logger: Logger, onLost: () => void): Promise<CoordinatorLock> {
    const holder: LockHolder = { session, host: hostname(), pid: process.pid, since: new Date().toISOString() };
    const lock = new CoordinatorLock(redis, keys.coordinatorLock(), holder, policy, logger);
    const deadline = Date.now() + policy.coordinatorLockTtlMs + 1_000;
    let logged = false;

    for (;;) {
      if ((await redis.set(lock.key, lock.value, 'PX', policy.coordinatorLockTtlMs, 'NX')) === 'OK') break;
      const text = await redis.get(lock.key);
      if (text === null) continue;
      const other = JSON.parse(text) as LockHolder;
      if (other.host === holder.host && !processExists(other.pid)) {
        logger.info({ previous: other }, 'taking over the lock of a coordinator whose process is gone');
        await redis.eval(RELEASE_SCRIPT, 1, lock.key, text);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `another coordinator holds the lock of prefix "${keys.prefix}" (host ${other.host}, pid ${other.pid}, since ${other.since}); ` +
            'stop it, or give this run another --queue-prefix and its own workers',
        );
      }
      if (!logged) {
        logger.info({ holder: other, waitMs: policy.coordinatorLockTtlMs }, 'waiting for the previous coordinator lock to expire');
        logged = true;
      }
      await sleep(Math.min(500, policy.coordinatorLockTtlMs / 4));
    }

    lock.timer = setInterval(() => {
      lock.renew(onLost).catch((error: unknown) => logger.warn({ error: (error as Error).message }, 'coordinator lock renewal failed; retrying'));
    }, policy.coordinatorLockTtlMs / 3);
    lock.timer.unref();
    return lock;
  }

  /** Releases the lock if this coordinator still holds it; calling it again does nothing. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer !== null) clearInterval(this.timer);
    await this.redis.eval(RELEASE_SCRIPT, 1, this.key, this.value);
  }

  private async renew(onLost: () => void): Promise<void> {
    if (this.released) return;
    const renewed = await this.redis.eval(RENEW_SCRIPT, 1, this.key, this.value, String(this.policy.coordinatorLockTtlMs));
    if (renewed === 1) return;
    this.logger.error({ key: this.key }, 'coordinator lock lost: another coordinator took it after this one stalled; stopping');
    if (this.timer !== null) clearInterval(this.timer);
    onLost();
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
