// A gradient worker in a process of its own, for the tests that kill or stop workers.
// Settings come from the environment: REDIS_URL, MCM_TEST_PREFIX, MCM_TEST_WORKER_ID,
// MCM_TEST_POLICY (JSON overrides) and MCM_TEST_DELAY_MS. Logs go to stderr as JSON lines.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createLogger } from '@mcm/common';
import { resolvePolicy } from '../../src/policy.ts';
import { runWorkerProcess } from '../../src/worker-process.ts';

await tf.setBackend('cpu');
const logger = createLogger('worker-child');
const policy = resolvePolicy(JSON.parse(process.env.MCM_TEST_POLICY ?? '{}'));
await runWorkerProcess({
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  prefix: process.env.MCM_TEST_PREFIX!,
  id: process.env.MCM_TEST_WORKER_ID!,
  policy,
  logger,
  backend: 'cpu',
  microBatchDelayMs: Number(process.env.MCM_TEST_DELAY_MS ?? '0'),
});
process.exit(0);
