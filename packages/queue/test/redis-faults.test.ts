import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { train } from '@mcm/training';
import { silentLogger } from '../../training/test/helpers/silent-logger.ts';
import { GradientCoordinator } from '../src/gradient-coordinator.ts';
import { GradientWorker } from '../src/gradient-worker.ts';
import { checkNoEviction, closeRedis, connectRedis } from '../src/redis.ts';
import { startFixtureCoordinator } from './helpers/coordinator.ts';
import { captureLogger, createTinyModel, fixtureTrainerOptions, readStepLines, temporaryRunDir, testPolicy } from './helpers/fixture.ts';
import { freePort, OwnRedis } from './helpers/redis.ts';
import { useReferenceRun } from './helpers/reference-suite.ts';
import { useTeardown } from './helpers/teardown.ts';

const policy = testPolicy();
const MAX_STEPS = 5;
const suite = useReferenceRun(MAX_STEPS);
const teardown = useTeardown();

describe('Redis faults', () => {
  it('unreachable Redis names the URL', async () => {
    const port = await freePort();
    const url = `redis://:secret-password@127.0.0.1:${port}/0`;

    const failure = connectRedis(url, { policy, logger: silentLogger(), role: 'test' });

    await expect(failure).rejects.toThrow(`Redis at redis://:***@127.0.0.1:${port}/0 is unreachable`);
    await expect(failure).rejects.toThrow('ECONNREFUSED');
    await expect(failure).rejects.not.toThrow('secret-password');
  });

  it('rejects an invalid URL scheme', async () => {
    await expect(connectRedis('http://127.0.0.1:6379', { policy, logger: silentLogger(), role: 'test' })).rejects.toThrow(
      'invalid Redis URL scheme "http:" in http://127.0.0.1:6379',
    );
  });

  it('coordinator rejects an evicting Redis', async () => {
    const server = await OwnRedis.start(['--maxmemory-policy', 'allkeys-lru']);
    teardown.add(() => server.stop());
    const redis = await connectRedis(server.url, { policy, logger: silentLogger(), role: 'test' });
    teardown.add(() => closeRedis(redis));

    await expect(checkNoEviction(redis)).rejects.toThrow(
      `Redis at redis://127.0.0.1:${server.port}/0 has maxmemory-policy allkeys-lru, which may evict queued jobs and gradients; ` +
        'set "maxmemory-policy noeviction" in redis.conf',
    );
    // A bare start, not startFixtureCoordinator: the test needs the rejected promise, and the start fails before it reads the description.
    const start = GradientCoordinator.start({
      redis,
      prefix: 'evicting',
      policy,
      logger: silentLogger(),
      run: 'evicting',
      data: suite.data,
      description: { modelName: 'mcm', modelConfig: suite.config, features: [], tasks: [] },
      microBatches: 1,
      encoding: { sparseRows: true, denseFloat16: false },
    });
    await expect(start).rejects.toThrow('redis-cli CONFIG SET maxmemory-policy noeviction');
  });

  it('survives a Redis restart mid-run', async () => {
    const server = await OwnRedis.start();
    teardown.add(() => server.stop());
    const coordinatorLog = captureLogger('coordinator');
    const workerLog = captureLogger('worker');
    const connections: Redis[] = [];
    teardown.add(async () => {
      for (const redis of connections) await closeRedis(redis);
    });
    const coordinatorRedis = await connectRedis(server.url, { policy, logger: coordinatorLog.logger, role: 'coordinator' });
    const workerRedis = await connectRedis(server.url, { policy, logger: workerLog.logger, role: 'worker' });
    connections.push(coordinatorRedis, workerRedis);

    // The pause keeps the worker busy for a while in each step, so that Redis goes away mid-step.
    const worker = await GradientWorker.start({ redis: workerRedis, prefix: 'restart', policy, logger: workerLog.logger, backend: 'cpu', id: 'w', microBatchDelayMs: 400 });
    teardown.add(() => worker.close());
    const coordinator = await startFixtureCoordinator(teardown, suite, {
      redis: coordinatorRedis,
      prefix: 'restart',
      policy,
      logger: coordinatorLog.logger,
      run: 'restart',
      microBatches: 1,
    });
    const run = await temporaryRunDir('restart');
    teardown.add(run.remove);

    const model = createTinyModel(suite.config);
    let restart: Promise<void> | null = null;
    const step: typeof coordinator.step = async (...args) => {
      if (args[3].step === 3 && restart === null) {
        restart = (async () => {
          await sleep(150);
          await server.stopProcess();
          await sleep(700);
          await server.startProcess();
        })();
      }
      return coordinator.step(...args);
    };
    await train(model, suite.data, fixtureTrainerOptions(run.dir, suite.config, { maxSteps: MAX_STEPS }), silentLogger(), step);
    await restart;
    model.dispose();

    const steps = await readStepLines(run.dir);
    expect(steps).toHaveLength(MAX_STEPS);
    steps.forEach((line, i) => expect(line.loss).toBeCloseTo(suite.reference[i]!.loss, 5));
    for (const { records } of [coordinatorLog, workerLog]) {
      const lost = records.find((record) => record.msg === 'Redis connection lost; reconnecting');
      expect(lost).toBeDefined();
      expect(lost!.redis).toBe(`redis://127.0.0.1:${server.port}`);
      expect(records.some((record) => record.msg === 'Redis connection restored')).toBe(true);
    }
  });
});
