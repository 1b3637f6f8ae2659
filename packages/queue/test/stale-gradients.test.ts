import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { train } from '@mcm/training';
import type { CustomerModel } from '@mcm/model';
import { silentLogger } from '../../training/test/helpers/silent-logger.ts';
import { GradientWorker } from '../src/gradient-worker.ts';
import { GRADIENT_QUEUE, QueueKeys } from '../src/keys.ts';
import type { GradientJobData, GradientJobResult } from '../src/payloads.ts';
import { encodeTensors } from '../src/tensor-payload.ts';
import { WorkerHeartbeat } from '../src/worker-registry.ts';
import { startFixtureCoordinator } from './helpers/coordinator.ts';
import { captureLogger, createTinyModel, fixtureTrainerOptions, readStepLines, temporaryRunDir, testPolicy, type StepLine } from './helpers/fixture.ts';
import { useReferenceRun } from './helpers/reference-suite.ts';
import { connectShared, freshPrefix } from './helpers/shared-redis.ts';
import { useTeardown } from './helpers/teardown.ts';

const policy = testPolicy();
const MAX_STEPS = 3;
const suite = useReferenceRun(MAX_STEPS);
const teardown = useTeardown();

function connect(): Promise<Redis> {
  return connectShared(teardown, { policy, logger: silentLogger() });
}

/**
 * Runs the fixture run while a rogue worker completes the first job with the result of
 * `answer`, then an honest worker computes everything else. Returns the steps, the
 * coordinator's log records and its session.
 */
async function runWithRogueAnswer(
  name: string,
  answer: (job: Job<GradientJobData, GradientJobResult>, redis: Redis, prefix: string, model: CustomerModel) => Promise<GradientJobResult>,
): Promise<{ steps: StepLine[]; records: Array<Record<string, unknown> & { msg: string }>; session: string; redis: Redis; prefix: string }> {
  const prefix = freshPrefix(teardown, name);
  const keys = new QueueKeys(prefix);
  const redis = await connect();

  const rogueHeartbeat = new WorkerHeartbeat(redis, keys, { id: 'rogue', host: 'test', pid: 0, backend: 'none', startedAt: '' }, policy, silentLogger());
  await rogueHeartbeat.start();
  const rogue = new Worker<GradientJobData, GradientJobResult>(GRADIENT_QUEUE, null, { connection: redis, prefix, autorun: false });
  teardown.add(() => rogue.close());

  const { logger, records } = captureLogger('coordinator');
  const run = await temporaryRunDir(name);
  teardown.add(run.remove);
  const coordinator = await startFixtureCoordinator(teardown, suite, {
    redis: await connect(),
    prefix,
    policy,
    logger,
    run: name,
    microBatches: 1,
  });

  const model = createTinyModel(suite.config);
  const training = train(model, suite.data, fixtureTrainerOptions(run.dir, suite.config, { maxSteps: MAX_STEPS }), silentLogger(), coordinator.step);

  let job: Job<GradientJobData, GradientJobResult> | undefined;
  while (job === undefined) {
    job = await rogue.getNextJob('rogue-token');
    if (job === undefined) await sleep(20);
  }
  await job.moveToCompleted(await answer(job, redis, prefix, model), 'rogue-token', false);
  await rogueHeartbeat.stop();

  const honest = await GradientWorker.start({ redis: await connect(), prefix, policy, logger: silentLogger(), backend: 'cpu', id: 'honest' });
  teardown.add(() => honest.close());
  await training;
  model.dispose();
  return { steps: await readStepLines(run.dir), records, session: coordinator.session, redis, prefix };
}

/** Returns a result for `job` that names `gradientKey`, with `overrides` applied. */
function resultFor(job: Job<GradientJobData, GradientJobResult>, gradientKey: string, overrides: Partial<GradientJobResult>): GradientJobResult {
  return {
    run: job.data.run,
    session: job.data.session,
    version: job.data.version,
    step: job.data.step,
    shard: job.data.shard,
    worker: 'rogue',
    gradientKey,
    bytes: 0,
    examples: job.data.examples.length,
    taskLossSums: { category: 1, brand: 1 },
    labelCounts: job.data.batchLabelCounts,
    randomState: job.data.randomState,
    seconds: 0,
    phases: { weights: 0, compute: 0, upload: 0 },
    ...overrides,
  };
}

describe('stale gradients', () => {
  it('coordinator rejects another version', async () => {
    let gradientKey = '';
    // Large gradients labelled with an older session's version: applied, they would change every later loss.
    const { steps, records, session, redis } = await runWithRogueAnswer('stale', async (job, connection, prefix, model) => {
      const poison = new Map(
        Object.entries(model.getWeights()).map(([name, weight]) => [name, { shape: weight.shape, values: new Float32Array(weight.values.length).fill(100) }]),
      );
      gradientKey = `${prefix}:rogue-gradients`;
      await connection.set(gradientKey, encodeTensors(poison, { sparseRows: false, denseFloat16: false }).payload);
      return resultFor(job, gradientKey, { session: 'older-session' });
    });

    expect(steps).toHaveLength(MAX_STEPS);
    steps.forEach((line, i) => expect(line.loss).toBeCloseTo(suite.reference[i]!.loss, 5));
    expect(steps[0]!.redoneShards).toBe(1);
    const rejection = records.find((record) => record.msg === 'stale gradients rejected: computed on another weights version');
    expect(rejection).toBeDefined();
    expect(rejection!.received).toBe('stale/older-session/0');
    expect(rejection!.expected).toBe(`stale/${session}/0`);
    expect(await redis.exists(gradientKey)).toBe(0);
  });

  it('coordinator redoes a lost payload', async () => {
    const { steps, records } = await runWithRogueAnswer('lostpayload', async (job, _connection, prefix) => resultFor(job, `${prefix}:never-written`, {}));

    expect(steps).toHaveLength(MAX_STEPS);
    steps.forEach((line, i) => expect(line.loss).toBeCloseTo(suite.reference[i]!.loss, 5));
    expect(steps[0]!.redoneShards).toBe(1);
    expect(records.some((record) => record.msg === 'gradient payload lost: its key is no longer in Redis')).toBe(true);
  });

  it('worker rejects a job of an old version', async () => {
    const prefix = freshPrefix(teardown, 'stalejob');
    const keys = new QueueKeys(prefix);
    const redis = await connect();
    await redis.set(keys.currentVersion(), JSON.stringify({ run: 'r', session: 's', version: 5 }));

    const { logger, records } = captureLogger('worker');
    const worker = await GradientWorker.start({ redis: await connect(), prefix, policy, logger, backend: 'cpu', id: 'checker' });
    teardown.add(() => worker.close());
    const queue = new Queue<GradientJobData, GradientJobResult>(GRADIENT_QUEUE, { connection: redis, prefix });
    teardown.add(() => queue.close());

    const job = await queue.add(
      'gradients',
      {
        run: 'r',
        session: 's',
        version: 4,
        step: 5,
        shard: 0,
        shardCount: 1,
        examples: [],
        taskWeights: {},
        batchLabelCounts: {},
        microBatches: 1,
        randomState: [1, 2, 3, 4],
        encoding: { sparseRows: true, denseFloat16: false },
      },
      { attempts: 3 },
    );
    let state = await job.getState();
    for (let i = 0; i < 200 && state !== 'failed'; i++) {
      await sleep(20);
      state = await job.getState();
    }

    expect(state).toBe('failed');
    const failed = await queue.getJob(job.id!);
    expect(failed!.failedReason).toBe('stale gradient job: it asks for weights version r/s/4, but the current version is r/s/5');
    expect(failed!.attemptsMade).toBe(1);
    expect(worker.stats.staleJobsRejected).toBe(1);
    expect(records.some((record) => record.msg === 'stale gradient job rejected' && record.current === 'r/s/5')).toBe(true);
  });
});
