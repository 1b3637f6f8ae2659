import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '@mcm/common';
import { reconnectDelay, type QueuePolicy } from './policy.ts';

/** The Redis URL of the distributed run when neither an option nor REDIS_URL names one. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Returns REDIS_URL, or the local default. */
export function redisUrlFromEnvironment(): string {
  const url = process.env.REDIS_URL;
  return url === undefined || url.trim() === '' ? DEFAULT_REDIS_URL : url.trim();
}

/** Returns `url` with its password replaced by `***`, for logs and error messages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an invalid Redis URL)';
  }
}

function validateRedisUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`invalid Redis URL ${redactRedisUrl(url)}: expected redis://[user:password@]host[:port][/db] or rediss:// for TLS`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`invalid Redis URL scheme "${parsed.protocol}" in ${redactRedisUrl(url)}: expected redis:// or rediss:// (TLS)`);
  }
}

export interface ConnectOptions {
  policy: QueuePolicy;
  logger: Logger;
  /** Role of the connecting process (coordinator, worker), for the log lines. */
  role: string;
}

/**
 * Opens a connection to `url` (redis:// or rediss:// with TLS; user and password in the
 * URL) and waits until it is ready. Fails with an error that names the URL when Redis
 * cannot be reached within the policy's connect timeout. Once connected, a lost
 * connection is retried forever with exponential backoff, and every attempt and the
 * recovery are logged. BullMQ requires `maxRetriesPerRequest: null`, so a command
 * issued while Redis is away waits for the reconnection instead of failing.
 */
export async function connectRedis(url: string, options: ConnectOptions): Promise<Redis> {
  validateRedisUrl(url);
  const redacted = redactRedisUrl(url);
  const { policy, logger, role } = options;
  let connected = false;
  let lastError: Error | null = null;
  let attempts = 0;

  const redisOptions: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    connectTimeout: policy.connectTimeoutMs,
    retryStrategy: (times) => {
      if (!connected) return null;
      attempts = times;
      const delay = reconnectDelay(policy, times);
      logger.warn({ redis: redacted, role, attempt: times, delayMs: delay, error: lastError?.message }, 'Redis connection lost; reconnecting');
      return delay;
    },
  };
  const redis = new Redis(url, redisOptions);
  // Without a listener, ioredis prints every failed attempt as an unhandled error event.
  redis.on('error', (error: Error) => {
    lastError = error;
  });
  redis.on('ready', () => {
    if (connected && attempts > 0) logger.info({ redis: redacted, role, attempts }, 'Redis connection restored');
    attempts = 0;
  });

  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    const reason = (lastError as Error | null)?.message ?? (error as Error).message;
    throw new Error(`Redis at ${redacted} is unreachable (${reason}); start Redis there or point REDIS_URL at a running server`, { cause: error });
  }
  connected = true;
  logger.info({ redis: redacted, role }, 'connected to Redis');
  return redis;
}

/**
 * Rejects a Redis whose maxmemory-policy is not `noeviction`: under memory pressure
 * any other policy deletes keys, and a deleted job or gradient silently loses work.
 * Reads the policy from INFO, which managed services allow where CONFIG GET is blocked.
 */
export async function checkNoEviction(redis: Redis): Promise<void> {
  const url = describeConnection(redis);
  const info = await redis.info('memory');
  const line = info.split(/\r?\n/).find((entry) => entry.startsWith('maxmemory_policy:'));
  const policy = line?.slice('maxmemory_policy:'.length).trim();
  if (policy === undefined) {
    throw new Error(`Redis at ${url} does not report maxmemory_policy in INFO memory, so eviction cannot be ruled out; use Redis 5 or later`);
  }
  if (policy !== 'noeviction') {
    throw new Error(
      `Redis at ${url} has maxmemory-policy ${policy}, which may evict queued jobs and gradients; ` +
        'set "maxmemory-policy noeviction" in redis.conf (see infra/redis/redis.conf) or run "redis-cli CONFIG SET maxmemory-policy noeviction"',
    );
  }
}

/** Closes `redis` and waits until its socket is gone; safe to call on a closed connection. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    // QUIT would wait for a reconnection that may never come.
    redis.disconnect();
    return;
  }
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

/** Returns scheme, host, port and database of a connection, without credentials. */
export function describeConnection(redis: Redis): string {
  const { host, port, db, tls } = redis.options;
  return `${tls === undefined ? 'redis' : 'rediss'}://${host}:${port}/${db ?? 0}`;
}
