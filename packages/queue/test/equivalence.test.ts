import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { train, type TrainingData } from '@mcm/training';
import type { ModelConfig } from '@mcm/model';
import { silentLogger } from '../../training/test/helpers/silent-logger.ts';
import { useCpuBackend } from '../../training/test/helpers/backend.ts';
import { GradientCoordinator } from '../src/gradient-coordinator.ts';
import { GradientWorker } from '../src/gradient-worker.ts';
import { closeRedis, connectRedis } from '../src/redis.ts';
import {
  createTinyModel,
  fixtureTrainerOptions,
  readStepLines,
  temporaryRunDir,
  testPolicy,
  uniquePrefix,
  type StepLine,
  trainReferenceRun,
  type ReferenceRun,
} from './helpers/fixture.ts';
import { deletePrefix, REDIS_URL } from './helpers/redis.ts';

const logger = silentLogger();
const policy = testPolicy();
let fixture: ReferenceRun['fixture'];
let data: TrainingData;
let config: ModelConfig;
let reference: StepLine[];
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  await useCpuBackend();
  ({ fixture, data, config, reference } = await trainReferenceRun());
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await fixture?.remove();
});

/**
 * Trains the fixture run with `workerCount` in-process workers; returns its steps and
 * the tensor count after each step, workers' and coordinator's together.
 */
async function distributedRun(workerCount: number, microBatches: number): Promise<{ steps: StepLine[]; tensors: number[] }> {
  const prefix = uniquePrefix(`equivalence${workerCount}`);
  const run = await temporaryRunDir(`distributed${workerCount}`);
  const connections: Redis[] = [];
  const connect = async () => {
    const redis = await connectRedis(REDIS_URL, { policy, logger, role: 'test' });
    connections.push(redis);
    return redis;
  };

  const workers: GradientWorker[] = [];
  for (let i = 0; i < workerCount; i++) {
    workers.push(await GradientWorker.start({ redis: await connect(), prefix, policy, logger, backend: 'cpu', id: `worker-${i}` }));
  }
  const coordinator = await GradientCoordinator.start({
    redis: await connect(),
    prefix,
    policy,
    logger,
    run: `equivalence-${workerCount}`,
    data,
    description: { modelName: 'mcm', modelConfig: config, features: config.features.map((f) => f.name), tasks: config.tasks.map((t) => t.name) },
    microBatches,
    encoding: { sparseRows: true, denseFloat16: false },
  });

  const model = createTinyModel(config);
  const tensors: number[] = [];
  const step: typeof coordinator.step = async (...args) => {
    const result = await coordinator.step(...args);
    tensors.push(tf.memory().numTensors);
    return result;
  };
  try {
    await train(model, data, fixtureTrainerOptions(run.dir, config), logger, step);
    return { steps: await readStepLines(run.dir), tensors };
  } finally {
    model.dispose();
    await coordinator.close();
    for (const worker of workers) await worker.close();
    for (const redis of connections) await closeRedis(redis);
    await deletePrefix(REDIS_URL, prefix);
    await run.remove();
  }
}

function expectSameLosses(actual: StepLine[], expected: StepLine[]): void {
  expect(actual.map((line) => line.step)).toEqual(expected.map((line) => line.step));
  actual.forEach((line, i) => {
    const want = expected[i]!;
    expect(line.loss).toBeCloseTo(want.loss, 5);
    expect(line.gradientNorm).toBeCloseTo(want.gradientNorm, 4);
    for (const task of Object.keys(want.taskLosses)) expect(line.taskLosses[task]).toBeCloseTo(want.taskLosses[task]!, 5);
  });
}

describe('distributed training equivalence', () => {
  it.each([
    { workers: 1, microBatches: 1 },
    { workers: 2, microBatches: 1 },
    { workers: 4, microBatches: 2 },
  ])('$workers workers match one process', async ({ workers, microBatches }) => {
    const { steps, tensors } = await distributedRun(workers, microBatches);

    expectSameLosses(steps, reference);
    // Every worker has built its model by the end of step 1; from then on nothing may leak.
    expect(new Set(tensors.slice(1)).size).toBe(1);
    for (const line of steps) {
      expect(line.shards).toBe(workers);
      expect(line.workers).toBe(workers);
      expect(line.examples).toBe(16);
    }
  });
});
