import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { train } from '@mcm/training';
import { silentLogger } from '../../../training/test/helpers/silent-logger.ts';
import { GradientWorker } from '../../src/gradient-worker.ts';
import { startFixtureCoordinator } from './coordinator.ts';
import { createTinyModel, fixtureTrainerOptions, readStepLines, temporaryRunDir, testPolicy, type ReferenceRun, type StepLine } from './fixture.ts';
import { connectShared, freshPrefix } from './shared-redis.ts';
import type { Teardown } from './teardown.ts';

const logger = silentLogger();
const policy = testPolicy();

/**
 * Trains the fixture run with `workerCount` in-process workers on the active backend.
 * Returns its steps and the tensor count after each step, workers' and coordinator's
 * together.
 */
export async function distributedRun(
  suite: ReferenceRun,
  teardown: Teardown,
  workerCount: number,
  microBatches: number,
): Promise<{ steps: StepLine[]; tensors: number[] }> {
  const prefix = freshPrefix(teardown, `equivalence${workerCount}`);
  const run = await temporaryRunDir(`distributed${workerCount}`);
  teardown.add(run.remove);
  const connect = () => connectShared(teardown, { policy, logger });

  for (let i = 0; i < workerCount; i++) {
    const worker = await GradientWorker.start({ redis: await connect(), prefix, policy, logger, backend: tf.getBackend(), id: `worker-${i}` });
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

/** Asserts the same steps, and losses and gradient norms equal to 5 and 4 decimals. */
export function expectSameLosses(actual: StepLine[], expected: StepLine[]): void {
  expect(actual.map((line) => line.step)).toEqual(expected.map((line) => line.step));
  actual.forEach((line, i) => {
    const want = expected[i]!;
    expect(line.loss).toBeCloseTo(want.loss, 5);
    expect(line.gradientNorm).toBeCloseTo(want.gradientNorm, 4);
    for (const task of Object.keys(want.taskLosses)) expect(line.taskLosses[task]).toBeCloseTo(want.taskLosses[task]!, 5);
  });
}
