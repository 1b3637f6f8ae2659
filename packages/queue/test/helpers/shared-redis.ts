import type { Redis } from 'ioredis';
import type { Logger } from '@mcm/common';
import { closeRedis, connectRedis } from '../../src/redis.ts';
import type { QueuePolicy } from '../../src/policy.ts';
import { uniquePrefix } from './fixture.ts';
import { deletePrefix, REDIS_URL } from './redis.ts';
import type { Teardown } from './teardown.ts';

/** Returns a key prefix that no other test uses; `teardown` deletes its keys after the test. */
export function freshPrefix(teardown: Teardown, name: string): string {
  const prefix = uniquePrefix(name);
  teardown.add(() => deletePrefix(REDIS_URL, prefix));
  return prefix;
}

/** Opens a connection to the shared test Redis that `teardown` closes after the test. */
export async function connectShared(teardown: Teardown, options: { policy: QueuePolicy; logger: Logger; role?: string }): Promise<Redis> {
  const redis = await connectRedis(REDIS_URL, { policy: options.policy, logger: options.logger, role: options.role ?? 'test' });
  teardown.add(() => closeRedis(redis));
  return redis;
}
