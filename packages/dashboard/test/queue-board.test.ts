import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRADIENT_QUEUE, QueueKeys, type CoordinatorStatus } from '@mcm/queue';
import { silentLogger } from '../../training/test/helpers/silent-logger.ts';
import { deletePrefix, REDIS_URL } from '../../queue/test/helpers/redis.ts';
import { uniquePrefix } from '../../queue/test/helpers/fixture.ts';
import { startDashboard, type DashboardState, type RunDashboard } from '../src/dashboard-server.ts';
import { TOKEN_COOKIE } from '../src/access-token.ts';

const prefix = uniquePrefix('dashboard');
const cleanups: Array<() => Promise<void>> = [];
let redis: Redis;
let runDir: string;

const status = (): CoordinatorStatus => ({
  run: 'board-test',
  session: 'abcd1234',
  state: 'training',
  step: 3,
  weightsVersion: 'board-test.abcd1234.2',
  workers: [],
  queue: {},
  lastStep: null,
  startedAt: new Date().toISOString(),
});

async function dashboardWith(token: string | undefined): Promise<RunDashboard> {
  const dashboard = await startDashboard({ runDir, port: 0, host: '127.0.0.1', token, logger: silentLogger(), queueBoard: true });
  dashboard.attachCoordinator({ redis, prefix, status });
  cleanups.push(() => dashboard.close());
  return dashboard;
}

beforeAll(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'mcm-dashboard-run-'));
  cleanups.push(() => rm(runDir, { recursive: true, force: true }));
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  cleanups.push(async () => void redis.disconnect());
  cleanups.push(() => deletePrefix(REDIS_URL, prefix));

  const keys = new QueueKeys(prefix);
  const worker = { id: 'board-worker', host: 'test-host', pid: 7, backend: 'cpu', startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString() };
  await redis.multi().set(keys.worker(worker.id), JSON.stringify(worker), 'PX', 60_000).sadd(keys.workers(), worker.id).sadd(keys.workers(), 'expired-worker').exec();
  const queue = new Queue(GRADIENT_QUEUE, { connection: redis, prefix });
  await queue.add('gradients', { step: 3, shard: 0, shardCount: 1 });
  await queue.close();
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('dashboard with a queue', () => {
  it('reports workers and queue depth', async () => {
    const dashboard = await dashboardWith(undefined);
    const state = (await (await fetch(`${dashboard.url}/api/state`)).json()) as DashboardState;
    expect(state.coordinator?.state).toBe('training');
    expect(state.coordinator?.workers.map((worker) => worker.id)).toEqual(['board-worker']);
    expect(state.coordinator?.workers[0]?.heartbeatAt).toMatch(/^\d{4}-/);
    expect(state.coordinator?.workers[0]?.currentShard).toBeNull();
    expect(state.coordinator?.queue.waiting).toBe(1);
    expect(state.queueBoard).toBe('/queues');
    expect(state.access).toBe('read-only');
    // The dashboard reads Redis without removing the expired worker from the set.
    expect(await redis.sismember(new QueueKeys(prefix).workers(), 'expired-worker')).toBe(1);
  });

  it('serves bull-board and rejects its mutations when read-only', async () => {
    const dashboard = await dashboardWith(undefined);
    const queues = (await (await fetch(`${dashboard.url}/queues/api/queues`)).json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(queues.queues.map((queue) => queue.name)).toEqual([GRADIENT_QUEUE]);
    expect(queues.queues[0]?.readOnlyMode).toBe(true);
    expect((await fetch(`${dashboard.url}/queues`)).status).toBe(200);

    const response = await fetch(`${dashboard.url}/queues/api/queues/${GRADIENT_QUEUE}/pause`, { method: 'PUT' });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: string }).error).toContain('read-only');
    const queue = new Queue(GRADIENT_QUEUE, { connection: redis, prefix });
    cleanups.push(() => queue.close());
    expect(await queue.isPaused()).toBe(false);
  });

  it('allows mutations with the token only', async () => {
    const dashboard = await dashboardWith('board-secret');
    const pause = `${dashboard.url}/queues/api/queues/${GRADIENT_QUEUE}/pause`;
    const resume = `${dashboard.url}/queues/api/queues/${GRADIENT_QUEUE}/resume`;
    const queue = new Queue(GRADIENT_QUEUE, { connection: redis, prefix });
    cleanups.push(() => queue.close());

    const anonymous = await fetch(pause, { method: 'PUT' });
    expect(anonymous.status).toBe(403);
    expect(((await anonymous.json()) as { error: string }).error).toContain('missing or wrong dashboard token');
    expect((await fetch(pause, { method: 'PUT', headers: { authorization: 'Bearer wrong' } })).status).toBe(403);
    expect(await queue.isPaused()).toBe(false);

    expect((await fetch(pause, { method: 'PUT', headers: { authorization: 'Bearer board-secret' } })).status).toBe(200);
    expect(await queue.isPaused()).toBe(true);

    // Opening the page with ?token= sets the cookie that bull-board's own requests then carry.
    const login = await fetch(`${dashboard.url}/?token=board-secret`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`${TOKEN_COOKIE}=board-secret`);
    expect(cookie).toContain('HttpOnly');
    expect((await fetch(resume, { method: 'PUT', headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
    expect(await queue.isPaused()).toBe(false);

    expect((await fetch(`${dashboard.url}/?token=wrong`, { redirect: 'manual' })).status).toBe(403);
  });
});
