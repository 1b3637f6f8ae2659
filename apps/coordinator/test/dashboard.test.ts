import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis, GradientWorker } from '@mcm/queue';
import { useCpuBackend } from '../../../packages/training/test/helpers/backend.ts';
import { silentLogger } from '../../../packages/training/test/helpers/silent-logger.ts';
import { temporaryRunDir, testPolicy, uniquePrefix, writeFixtureDataset } from '../../../packages/queue/test/helpers/fixture.ts';
import { deletePrefix, REDIS_URL } from '../../../packages/queue/test/helpers/redis.ts';
import { launchChromium, UPDATE_SCREENSHOTS, type HeadlessBrowser, type PageGlobals } from '../../../packages/dashboard/test/helpers/browser.ts';
import { startCli } from '../../../packages/dashboard/test/helpers/cli-process.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const SCREENSHOTS = fileURLToPath(new URL('../../../docs/img/', import.meta.url));
const TASKS = ['category', 'brand'];
const WORKERS = ['dashboard-worker-1', 'dashboard-worker-2'];
const policy = testPolicy();
const prefix = uniquePrefix('dashboard');
const cleanups: Array<() => Promise<void>> = [];
let browser: HeadlessBrowser;
let dataDir: string;


beforeAll(async () => {
  await useCpuBackend();
  const fixture = await writeFixtureDataset();
  cleanups.push(fixture.remove);
  dataDir = fixture.dir;
  cleanups.push(() => deletePrefix(REDIS_URL, prefix));

  const redis: Redis = await connectRedis(REDIS_URL, { policy, logger: silentLogger(), role: 'worker' });
  cleanups.push(() => closeRedis(redis));
  for (const id of WORKERS) {
    // The delay keeps each shard in flight long enough for the page to catch a worker on it.
    const worker = await GradientWorker.start({ redis, prefix, policy, logger: silentLogger(), backend: 'cpu', id, microBatchDelayMs: 30 });
    cleanups.push(() => worker.close());
  }
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('coordinator dashboard', () => {
  it('shows the workers, the losses and bull-board', async () => {
    const run = await temporaryRunDir('dashboard');
    cleanups.push(run.remove);
    const coordinator = startCli(CLI, [
      ...['start', '--data', dataDir, '--out', run.dir, '--queue-prefix', prefix, '--max-steps', '400', '--budget-minutes', '2', '--eval-every', '5', '--patience', '1000'],
      ...['--customers-per-batch', '16', '--eval-max-examples', '40', '--hidden', '8', '--layers', '1', '--heads', '2', '--ffn', '16', '--max-length', '10', '--backend', 'cpu'],
      ...['--dashboard', '0'],
    ]);
    cleanups.push(() => coordinator.kill());
    const listening = await coordinator.waitForRecord('dashboard listening', 60_000);
    const url = listening.url as string;
    expect(listening.queueBoard).toBe(`${url}/queues`);

    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url);
    await page.waitForFunction(
      (workers) => {
        const dashboard = (globalThis as unknown as PageGlobals).mcmDashboard;
        return dashboard.state?.coordinator?.workers.length === workers && dashboard.steps.length >= 10 && dashboard.validation.length >= 2;
      },
      WORKERS.length,
      { timeout: 60_000 },
    );

    const rows = page.locator('#workers tr.worker');
    expect(await rows.count()).toBe(WORKERS.length);
    for (const [index, id] of WORKERS.entries()) {
      const cells = await rows.nth(index).locator('td').allTextContents();
      expect(cells[0]).toBe(id);
      expect(cells[3]).toBe('cpu');
      expect(cells[4]).toMatch(/^\d+\.\d s ago$/);
      expect(cells[5]).toMatch(/^(idle|step \d+, shard [12] of 2)$/);
    }
    expect(await page.locator('#tile-workers').textContent()).toBe(String(WORKERS.length));
    expect(await page.locator('#tile-queue').textContent()).toMatch(/^\d+$/);
    expect(await page.locator('#queue-head th').allTextContents()).toContain('waiting');
    const lossLabels = await page.evaluate(() => (globalThis as unknown as PageGlobals).mcmDashboard.charts.loss!.series.slice(1).map((series) => series.label));
    expect(lossLabels).toEqual(TASKS);
    await page.screenshot({ path: join(UPDATE_SCREENSHOTS ? SCREENSHOTS : run.dir, 'dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);

    const board = await browser.context.newPage();
    await board.goto(`${url}/queues`);
    await board.getByText('gradients').first().waitFor({ timeout: 30_000 });
    const pause = await fetch(`${url}/queues/api/queues/gradients/pause`, { method: 'PUT' });
    expect(pause.status).toBe(403);
    expect(((await pause.json()) as { error: string }).error).toContain('read-only');
    await board.close();
    await page.close();

    coordinator.child.kill('SIGTERM');
    expect(await coordinator.exit).toBe(143);
  });
});
