import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { train } from '@mcm/training';
import { CustomerModel } from '@mcm/model';
import { silentLogger } from '../../training/test/helpers/silent-logger.ts';
import { GradientWorker, type GradientWorkerOptions } from '../src/gradient-worker.ts';
import { GRADIENT_QUEUE } from '../src/keys.ts';
import { closeRedis, connectRedis } from '../src/redis.ts';
import { WorkerChild } from './helpers/children.ts';
import { startFixtureCoordinator } from './helpers/coordinator.ts';
import {
  captureLogger,
  createTinyModel,
  fixtureTrainerOptions,
  readStepLines,
  temporaryRunDir,
  testPolicy,
  TEST_POLICY_OVERRIDES,
  type StepLine,
} from './helpers/fixture.ts';
import { REDIS_URL } from './helpers/redis.ts';
import { useReferenceRun } from './helpers/reference-suite.ts';
import { connectShared, freshPrefix } from './helpers/shared-redis.ts';
import { useTeardown } from './helpers/teardown.ts';

const policy = testPolicy();
const MAX_STEPS = 5;
const suite = useReferenceRun(MAX_STEPS);
const teardown = useTeardown();

/** Starts a coordinator with its own connection and run directory, all removed after the test. */
async function startCoordinator(name: string, prefix: string, microBatches: number) {
  const { logger, records } = captureLogger('coordinator');
  const redis = await connectShared(teardown, { policy, logger, role: 'coordinator' });
  const run = await temporaryRunDir(name);
  teardown.add(run.remove);
  const coordinator = await startFixtureCoordinator(teardown, suite, { redis, prefix, policy, logger, run: name, microBatches });
  return { coordinator, runDir: run.dir, records, logger };
}

async function startChild(id: string, prefix: string, delayMs: number): Promise<WorkerChild> {
  const child = await WorkerChild.start({ id, prefix, redisUrl: REDIS_URL, policy: TEST_POLICY_OVERRIDES, delayMs });
  teardown.add(() => child.stop());
  return child;
}

async function startInProcessWorker(id: string, prefix: string, options: Partial<GradientWorkerOptions> = {}): Promise<GradientWorker> {
  const logger = options.logger ?? silentLogger();
  const workerPolicy = options.policy ?? policy;
  const redis = await connectShared(teardown, { policy: workerPolicy, logger, role: 'worker' });
  const worker = await GradientWorker.start({ redis, prefix, backend: 'cpu', id, ...options, policy: workerPolicy, logger });
  teardown.add(() => worker.close());
  return worker;
}

/** Polls the queue until worker `id` is processing a job; returns the job's step. */
async function waitUntilActive(prefix: string, id: string, timeoutMs: number): Promise<number> {
  const redis = await connectRedis(REDIS_URL, { policy, logger: silentLogger(), role: 'test' });
  const queue = new Queue(GRADIENT_QUEUE, { connection: redis, prefix });
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const active = await queue.getActive();
      const job = active.find((entry) => entry.processedBy === id);
      if (job !== undefined) return (job.data as { step: number }).step;
      await sleep(25);
    }
    throw new Error(`worker ${id} took no job within ${timeoutMs} ms`);
  } finally {
    await queue.close();
    await closeRedis(redis);
  }
}

function expectReferenceLosses(steps: StepLine[]): void {
  expect(steps.map((line) => line.step)).toEqual(suite.reference.map((line) => line.step));
  steps.forEach((line, i) => {
    expect(line.loss).toBeCloseTo(suite.reference[i]!.loss, 5);
    expect(line.gradientNorm).toBeCloseTo(suite.reference[i]!.gradientNorm, 4);
    expect(line.examples).toBe(16);
  });
}

describe('worker faults', () => {
  it('SIGKILL mid-step: another worker redoes the shard', async () => {
    const prefix = freshPrefix(teardown, 'sigkill');
    const [victim, survivor] = await Promise.all([startChild('victim', prefix, 250), startChild('survivor', prefix, 250)]);
    const { coordinator, runDir, records } = await startCoordinator('sigkill', prefix, 2);

    const model = createTinyModel(suite.config);
    const training = train(model, suite.data, fixtureTrainerOptions(runDir, suite.config, { maxSteps: MAX_STEPS }), silentLogger(), coordinator.step);
    const killedAt = await waitUntilActive(prefix, 'victim', 60_000);
    victim.kill('SIGKILL');
    expect(await victim.exit()).toBeNull();
    await training;
    model.dispose();

    const steps = await readStepLines(runDir);
    expectReferenceLosses(steps);
    expect(steps[killedAt - 1]!.shards).toBe(2);
    expect(steps.at(-1)!.workers).toBe(1);
    expect(records.some((record) => record.msg.startsWith('gradient job stalled'))).toBe(true);
    expect(survivor.records.some((record) => record.msg.startsWith('gradient job stalled'))).toBe(true);
  });

  it('joining worker gets weights and a shard', async () => {
    const prefix = freshPrefix(teardown, 'join');
    const first = await startInProcessWorker('first', prefix);
    const { coordinator, runDir } = await startCoordinator('join', prefix, 1);

    const model = createTinyModel(suite.config);
    const joinAfter = 2;
    let joined: GradientWorker | null = null;
    const step: typeof coordinator.step = async (...args) => {
      if (args[3].step === joinAfter + 1) joined = await startInProcessWorker('joined', prefix);
      return coordinator.step(...args);
    };
    await train(model, suite.data, fixtureTrainerOptions(runDir, suite.config, { maxSteps: MAX_STEPS }), silentLogger(), step);
    model.dispose();

    const steps = await readStepLines(runDir);
    expectReferenceLosses(steps);
    expect(steps.slice(0, joinAfter).map((line) => line.shards)).toEqual([1, 1]);
    expect(steps.slice(joinAfter).map((line) => line.shards)).toEqual([2, 2, 2]);
    expect(joined!.stats.jobsCompleted).toBe(MAX_STEPS - joinAfter);
    expect(first.stats.jobsCompleted).toBe(MAX_STEPS);
  });

  it('SIGTERM hands the shard back', async () => {
    const prefix = freshPrefix(teardown, 'sigterm');
    const stayer = await startInProcessWorker('stayer', prefix);
    const leaver = await startChild('leaver', prefix, 250);
    const { coordinator, runDir } = await startCoordinator('sigterm', prefix, 3);

    const model = createTinyModel(suite.config);
    const training = train(model, suite.data, fixtureTrainerOptions(runDir, suite.config, { maxSteps: MAX_STEPS }), silentLogger(), coordinator.step);
    const leftAt = await waitUntilActive(prefix, 'leaver', 60_000);
    leaver.kill('SIGTERM');
    expect(await leaver.exit()).toBe(0);
    await training;
    model.dispose();

    const steps = await readStepLines(runDir);
    expectReferenceLosses(steps);
    expect(leaver.records.some((record) => record.msg === 'worker stopping: gradient job handed back to the queue')).toBe(true);
    expect(steps[leftAt - 1]!.shards).toBe(2);
    expect(steps.at(-1)!.shards).toBe(1);
    expect(stayer.stats.jobsCompleted).toBeGreaterThan(MAX_STEPS - leftAt);
  });
});

describe('slow workers', () => {
  it('lock outlasts a long micro-batch', async () => {
    const prefix = freshPrefix(teardown, 'slow');
    // Each forward pass blocks the event loop for longer than the lock lasts, as a large
    // model on a slow machine does.
    const blockMs = 900;
    const slowPolicy = testPolicy({ lockDurationMs: 600, stalledIntervalMs: 300 });
    const { logger, records } = captureLogger('worker');
    const worker = await startInProcessWorker('slow', prefix, {
      policy: slowPolicy,
      logger,
      createModel: (run) => {
        const model = CustomerModel.create(run.modelConfig, 0);
        const taskLosses = model.taskLosses.bind(model);
        model.taskLosses = (...args) => {
          const until = performance.now() + blockMs;
          while (performance.now() < until);
          return taskLosses(...args);
        };
        return model;
      },
    });
    const { coordinator, runDir } = await startCoordinator('slow', prefix, 1);

    const model = createTinyModel(suite.config);
    await train(model, suite.data, fixtureTrainerOptions(runDir, suite.config, { maxSteps: 3 }), silentLogger(), coordinator.step);
    model.dispose();

    const steps = await readStepLines(runDir);
    steps.forEach((line, i) => expect(line.loss).toBeCloseTo(suite.reference[i]!.loss, 5));
    // Only the first job, before any micro-batch was timed, may lose its lock.
    const stalls = records.filter((record) => record.msg.startsWith('gradient job stalled'));
    expect(stalls.length).toBeLessThanOrEqual(1);
    expect(steps.slice(1).every((line) => line.redoneShards === 0)).toBe(true);
    expect(worker.stats.jobsCompleted).toBeGreaterThanOrEqual(3);
  });
});
