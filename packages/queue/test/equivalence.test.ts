import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { train } from '@mcm/training';
import { silentLogger } from '../../training/test/helpers/silent-logger.ts';
import { GradientWorker } from '../src/gradient-worker.ts';
import { startFixtureCoordinator } from './helpers/coordinator.ts';
import { createTinyModel, fixtureTrainerOptions, readStepLines, temporaryRunDir, testPolicy, type StepLine } from './helpers/fixture.ts';
import { useReferenceRun } from './helpers/reference-suite.ts';
import { connectShared, freshPrefix } from './helpers/shared-redis.ts';
import { useTeardown } from './helpers/teardown.ts';

const logger = silentLogger();
const policy = testPolicy();
const suite = useReferenceRun();
const teardown = useTeardown();

/**
 * Trains the fixture run with `workerCount` in-process workers; returns its steps and
 * the tensor count after each step, workers' and coordinator's together.
 */
async function distributedRun(workerCount: number, microBatches: number): Promise<{ steps: StepLine[]; tensors: number[] }> {
  const prefix = freshPrefix(teardown, `equivalence${workerCount}`);
  const run = await temporaryRunDir(`distributed${workerCount}`);
  teardown.add(run.remove);
  const connect = () => connectShared(teardown, { policy, logger });

  for (let i = 0; i < workerCount; i++) {
    const worker = await GradientWorker.start({ redis: await connect(), prefix, policy, logger, backend: 'cpu', id: `worker-${i}` });
    teardown.add(() => worker.close());
  }
  const coordinator = await startFixtureCoordinator(teardown, suite, {
    redis: await connect(),
    prefix,
    policy,
    logger,
    run: `equivalence-${workerCount}`,
    microBatches,
  });

  const model = createTinyModel(suite.config);
  const tensors: number[] = [];
  const step: typeof coordinator.step = async (...args) => {
    const result = await coordinator.step(...args);
    tensors.push(tf.memory().numTensors);
    return result;
  };
  try {
    await train(model, suite.data, fixtureTrainerOptions(run.dir, suite.config), logger, step);
    return { steps: await readStepLines(run.dir), tensors };
  } finally {
    model.dispose();
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

    expectSameLosses(steps, suite.reference);
    // Every worker has built its model by the end of step 1; from then on nothing may leak.
    expect(new Set(tensors.slice(1)).size).toBe(1);
    for (const line of steps) {
      expect(line.shards).toBe(workers);
      expect(line.workers).toBe(workers);
      expect(line.examples).toBe(16);
    }
  });
});
