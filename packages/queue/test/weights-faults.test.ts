import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, type Job } from 'bullmq';
import { train } from '@mcm/training';
import { silentLogger } from '../../training/test/helpers/silent-logger.ts';
import { GradientWorker } from '../src/gradient-worker.ts';
import { GRADIENT_QUEUE, QueueKeys } from '../src/keys.ts';
import type { GradientJobData, GradientJobResult } from '../src/payloads.ts';
import type { QueuePolicy } from '../src/policy.ts';
import { WorkerHeartbeat } from '../src/worker-registry.ts';
import { startFixtureCoordinator } from './helpers/coordinator.ts';
import { captureLogger, createTinyModel, fixtureTrainerOptions, readStepLines, temporaryRunDir, testPolicy, type StepLine } from './helpers/fixture.ts';
import { useReferenceRun } from './helpers/reference-suite.ts';
import { connectShared, freshPrefix } from './helpers/shared-redis.ts';
import { useTeardown } from './helpers/teardown.ts';

const MAX_STEPS = 3;
const suite = useReferenceRun(MAX_STEPS);
const teardown = useTeardown();

/** Starts the fixture run's coordinator and its training, with no worker yet. */
async function startRun(name: string, policy: QueuePolicy) {
  const prefix = freshPrefix(teardown, name);
  const { logger, records } = captureLogger('coordinator');
  const run = await temporaryRunDir(name);
  teardown.add(run.remove);
  const coordinator = await startFixtureCoordinator(teardown, suite, {
    redis: await connectShared(teardown, { policy, logger: silentLogger() }),
    prefix,
    policy,
    logger,
    run: name,
    microBatches: 1,
  });
  const model = createTinyModel(suite.config);
  teardown.add(async () => model.dispose());
  const training = train(model, suite.data, fixtureTrainerOptions(run.dir, suite.config, { maxSteps: MAX_STEPS }), silentLogger(), coordinator.step);
  return { prefix, keys: new QueueKeys(prefix), records, session: coordinator.session, training, steps: (): Promise<StepLine[]> => readStepLines(run.dir) };
}

describe('weights faults', () => {
  it('damaged weights are named and stored again', async () => {
    const policy = testPolicy();
    const redis = await connectShared(teardown, { policy, logger: silentLogger() });
    const run = await startRun('damaged-weights', policy);

    // A stand-in worker takes step 1's job, so that the weights can be damaged before a real worker reads them.
    const heartbeat = new WorkerHeartbeat(redis, run.keys, { id: 'holder', host: 'test', pid: 0, backend: 'none', startedAt: '' }, policy, silentLogger());
    await heartbeat.start();
    const holder = new Worker<GradientJobData, GradientJobResult>(GRADIENT_QUEUE, null, { connection: redis, prefix: run.prefix, autorun: false });
    teardown.add(() => holder.close());
    let job: Job<GradientJobData, GradientJobResult> | undefined;
    while (job === undefined) {
      job = await holder.getNextJob('holder-token');
      if (job === undefined) await sleep(20);
    }
    const weightsKey = run.keys.weights(job.data.run, job.data.session, job.data.version);
    await redis.set(weightsKey, 'not a payload at all', 'KEEPTTL');
    await job.moveToWait('holder-token');
    await heartbeat.stop();

    const worker = await GradientWorker.start({ redis: await connectShared(teardown, { policy, logger: silentLogger() }), prefix: run.prefix, policy, logger: silentLogger(), backend: 'cpu', id: 'reader', prefetchWeights: false });
    teardown.add(() => worker.close());
    await run.training;

    const steps = await run.steps();
    expect(steps.map((line) => line.step)).toEqual([1, 2, 3]);
    expect((steps[0] as StepLine & { redoneShards: number }).redoneShards).toBe(1);
    const redo = run.records.find((record) => record.msg === 'dispatching the shard again, with the weights stored again');
    expect(redo?.reason).toContain(`in ${weightsKey} cannot be loaded: not a tensor payload`);
  });

  it('weights expired during a wait are stored again', async () => {
    const policy = testPolicy({ payloadTtlMs: 500 });
    const run = await startRun('expired-weights', policy);
    // Longer than the weights' time to live, with no worker present.
    await sleep(1500);

    const worker = await GradientWorker.start({ redis: await connectShared(teardown, { policy, logger: silentLogger() }), prefix: run.prefix, policy, logger: silentLogger(), backend: 'cpu', id: 'late' });
    teardown.add(() => worker.close());
    await run.training;

    const steps = await run.steps();
    expect(steps.map((line) => line.step)).toEqual([1, 2, 3]);
    expect((steps[0] as StepLine & { redoneShards: number }).redoneShards).toBe(0);
  });
});
