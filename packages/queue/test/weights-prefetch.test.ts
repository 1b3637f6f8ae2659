import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { train, type TrainableModel } from '@mcm/training';
import { CustomerModel } from '@mcm/model';
import { silentLogger } from '../../training/test/helpers/silent-logger.ts';
import { GradientWorker } from '../src/gradient-worker.ts';
import { QueueKeys } from '../src/keys.ts';
import type { WeightsVersion } from '../src/payloads.ts';
import { encodeTensors, type NamedArray } from '../src/tensor-payload.ts';
import { startFixtureCoordinator } from './helpers/coordinator.ts';
import { createTinyModel, fixtureTrainerOptions, readStepLines, temporaryRunDir, testPolicy, type StepLine } from './helpers/fixture.ts';
import { useReferenceRun } from './helpers/reference-suite.ts';
import { connectShared, freshPrefix } from './helpers/shared-redis.ts';
import { useTeardown } from './helpers/teardown.ts';

const logger = silentLogger();
const policy = testPolicy();
const MAX_STEPS = 4;
/** The value of every weight of the planted version, far from any trained weight. */
const PLANTED_VALUE = 5;

const suite = useReferenceRun(MAX_STEPS);
const teardown = useTeardown();

function connect(): Promise<Redis> {
  return connectShared(teardown, { policy, logger });
}

/** Wraps a CustomerModel to record the weights it is given and to call `onForward` before each forward pass. */
function recordingModel(model: CustomerModel, setCalls: Array<Record<string, NamedArray>>, onForward: () => void): TrainableModel {
  return {
    variables: model.variables,
    taskLosses: (batch, labels, options) => {
      onForward();
      return model.taskLosses(batch, labels, options);
    },
    scores: (batch, task, options) => model.scores(batch, task, options),
    getWeights: () => model.getWeights(),
    setWeights: (weights) => {
      setCalls.push(weights);
      model.setWeights(weights);
    },
    dispose: () => model.dispose(),
  };
}

/**
 * Trains the fixture run with one in-process worker whose model records every
 * setWeights call; `onForward` runs before each forward pass of the worker.
 */
async function recordedRun(
  name: string,
  options: { microBatches: number; microBatchDelayMs: number; onForward: (redis: Redis, keys: QueueKeys, session: () => string) => void },
): Promise<{ steps: Array<StepLine & { workerPhases: { detail?: Record<string, number> } }>; setCalls: Array<Record<string, NamedArray>> }> {
  const prefix = freshPrefix(teardown, name);
  const keys = new QueueKeys(prefix);
  const redis = await connect();
  const run = await temporaryRunDir(name);
  teardown.add(run.remove);

  let session = '';
  const setCalls: Array<Record<string, NamedArray>> = [];
  const worker = await GradientWorker.start({
    redis: await connect(),
    prefix,
    policy,
    logger,
    backend: 'cpu',
    id: 'recorded',
    microBatchDelayMs: options.microBatchDelayMs,
    createModel: (description) => recordingModel(CustomerModel.create(description.modelConfig, 0), setCalls, () => options.onForward(redis, keys, () => session)),
  });
  teardown.add(() => worker.close());
  const coordinator = await startFixtureCoordinator(teardown, suite, {
    redis: await connect(),
    prefix,
    policy,
    logger,
    run: name,
    microBatches: options.microBatches,
  });
  session = coordinator.session;

  const model = createTinyModel(suite.config);
  try {
    await train(model, suite.data, fixtureTrainerOptions(run.dir, suite.config, { maxSteps: MAX_STEPS }), logger, coordinator.step);
  } finally {
    model.dispose();
  }
  return { steps: (await readStepLines(run.dir)) as Array<StepLine & { workerPhases: { detail?: Record<string, number> } }>, setCalls };
}

function expectSameLosses(actual: StepLine[], expected: StepLine[]): void {
  expect(actual.map((line) => line.step)).toEqual(expected.map((line) => line.step));
  actual.forEach((line, i) => {
    const want = expected[i]!;
    expect(line.loss).toBeCloseTo(want.loss, 5);
    expect(line.gradientNorm).toBeCloseTo(want.gradientNorm, 4);
  });
}

describe('weights prefetch', () => {
  it('idle worker takes announced weights', async () => {
    const { steps, setCalls } = await recordedRun('prefetch-idle', { microBatches: 1, microBatchDelayMs: 0, onForward: () => {} });

    expectSameLosses(steps, suite.reference);
    // One set per version: step 1 reads its weights in the job, later steps get them from the prefetch.
    expect(setCalls).toHaveLength(MAX_STEPS);
    const prefetchedSteps = steps.slice(1).filter((line) => line.workerPhases.detail?.weightsFetch === undefined);
    expect(prefetchedSteps.length).toBeGreaterThan(0);
  });

  it('announcement during a job waits', async () => {
    let planted = false;
    // While step 1's job pauses between its micro-batches, announce a version with other weights.
    const plant = async (redis: Redis, keys: QueueKeys, session: string) => {
      const version: WeightsVersion = { run: 'prefetch-busy', session, version: 999 };
      const weights = new Map<string, NamedArray>();
      const template = createTinyModel(suite.config);
      for (const [name, weight] of Object.entries(template.getWeights())) weights.set(name, { shape: weight.shape, values: new Float32Array(weight.values.length).fill(PLANTED_VALUE) });
      template.dispose();
      const { payload } = encodeTensors(weights, { sparseRows: false, denseFloat16: false });
      await redis.set(keys.weights(version.run, version.session, version.version), payload, 'PX', 60_000);
      await redis.publish(keys.weightsPublished(), JSON.stringify(version));
    };
    const { steps, setCalls } = await recordedRun('prefetch-busy', {
      microBatches: 2,
      microBatchDelayMs: 400,
      onForward: (redis, keys, session) => {
        if (planted) return;
        planted = true;
        void plant(redis, keys, session());
      },
    });

    expect(planted).toBe(true);
    expectSameLosses(steps, suite.reference);
    const plantedSets = setCalls.filter((weights) => Object.values(weights).every((weight) => weight.values.every((value) => value === PLANTED_VALUE)));
    expect(plantedSets).toHaveLength(0);
  });
});
