import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFixtureDataset } from '../../../packages/queue/test/helpers/fixture.ts';
import { launchChromium, UPDATE_SCREENSHOTS, type HeadlessBrowser, type PageGlobals } from '../../../packages/dashboard/test/helpers/browser.ts';
import { startCli } from '../../../packages/dashboard/test/helpers/cli-process.ts';
import type { MetricsReport } from '../src/evaluation-report.ts';
import { runReportCommand } from '../src/report-command.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const SCREENSHOTS = fileURLToPath(new URL('../../../docs/img/', import.meta.url));
const TASKS = ['category', 'brand'];
const cleanups: Array<() => Promise<void>> = [];
let browser: HeadlessBrowser;
let dataDir: string;
let runDir: string;
let screenshotDir: string;


beforeAll(async () => {
  process.env.MCM_LOG_LEVEL = 'silent';
  const fixture = await writeFixtureDataset();
  cleanups.push(fixture.remove);
  dataDir = fixture.dir;
  runDir = await mkdtemp(join(tmpdir(), 'mcm-dashboard-run-'));
  cleanups.push(() => rm(runDir, { recursive: true, force: true }));
  screenshotDir = UPDATE_SCREENSHOTS ? SCREENSHOTS : runDir;
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('trainer dashboard and report', () => {
  it('dashboard shows one loss curve per task', async () => {
    // A tiny model on 2 cores takes a few hundred steps in the 9-second budget, with a validation every 10 steps and no early stop.
    const train = startCli(CLI, [
      ...['train', '--data', dataDir, '--out', runDir, '--budget-minutes', '0.15', '--eval-every', '10', '--patience', '1000', '--customers-per-batch', '16', '--eval-max-examples', '40'],
      ...['--hidden', '8', '--layers', '1', '--heads', '2', '--ffn', '16', '--max-length', '10', '--backend', 'cpu', '--dashboard', '0'],
    ]);
    cleanups.push(() => train.kill());
    const listening = await train.waitForRecord('dashboard listening', 60_000);
    expect(listening.readOnly).toBe(true);

    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(listening.url as string);
    await page.waitForFunction(
      () => {
        const dashboard = (globalThis as unknown as PageGlobals).mcmDashboard;
        return dashboard.charts.loss !== undefined && dashboard.steps.length >= 10 && dashboard.validation.length >= 2;
      },
      null,
      { timeout: 60_000 },
    );

    const loss = await page.evaluate(() => {
      const chart = (globalThis as unknown as PageGlobals).mcmDashboard.charts.loss!;
      return { labels: chart.series.slice(1).map((series) => series.label), data: chart.data };
    });
    expect(loss.labels).toEqual(TASKS);
    expect(loss.data).toHaveLength(TASKS.length + 1);
    expect(loss.data[0]!.length).toBeGreaterThanOrEqual(10);
    for (const column of loss.data.slice(1)) {
      expect(column).toHaveLength(loss.data[0]!.length);
      expect(column.every((value) => typeof value === 'number' && value > 0)).toBe(true);
    }
    const legend = await page.locator('#chart-loss .u-legend .u-series .u-label').allTextContents();
    expect(legend).toEqual(['step', ...TASKS]);
    const ndcgLabels = await page.evaluate(() => (globalThis as unknown as PageGlobals).mcmDashboard.charts.ndcg!.series.slice(1).map((series) => series.label));
    expect(ndcgLabels).toEqual([...TASKS, 'mean']);
    expect(Number(await page.locator('#tile-step').textContent())).toBeGreaterThanOrEqual(10);
    expect(await page.locator('#tile-throughput').textContent()).toMatch(/^\d+(\.\d)?$/);
    expect(await page.locator('#coordinator').isHidden()).toBe(true);
    expect(errors).toEqual([]);

    expect(await train.exit).toBe(0);
    expect(existsSync(join(runDir, 'metrics.json'))).toBe(true);
    await page.close();
  });

  it('report renders its table and charts offline', async () => {
    const path = await runReportCommand({ run: runDir });
    expect(path).toBe(join(runDir, 'report.html'));
    const metrics = JSON.parse(await readFile(join(runDir, 'metrics.json'), 'utf8')) as MetricsReport;

    const page = await browser.context.newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`file://${path}`);
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).mcmReport?.charts.throughput !== undefined);

    const rows = page.locator('#metrics tbody tr');
    expect(await rows.count()).toBe(TASKS.length);
    for (const [index, task] of TASKS.entries()) {
      const cells = await rows.nth(index).locator('th, td').allTextContents();
      expect(cells[0]).toBe(task);
      expect(cells[1]).toBe(String(metrics.tasks[task]!.examples));
      expect(cells[2]).toBe(metrics.tasks[task]!['ndcg@10']!.toFixed(4));
      expect(cells[3]).toBe(metrics.baselines.popularity![task]!['ndcg@10']!.toFixed(4));
      expect(cells[7]).toBe(metrics.baselines['last-value']![task]!['ndcg@10']!.toFixed(4));
    }
    expect(await page.locator('#run-summary').textContent()).toContain(metrics.backend);

    const charts = await page.evaluate(() =>
      Object.fromEntries(Object.entries((globalThis as unknown as PageGlobals).mcmReport!.charts).map(([name, chart]) => [name, { labels: chart.series.slice(1).map((series) => series.label), points: chart.data[0]!.length }])),
    );
    const steps = (await readFile(join(runDir, 'steps.jsonl'), 'utf8')).trim().split('\n').length;
    expect(charts.loss).toEqual({ labels: TASKS, points: steps });
    expect(charts.ndcg!.labels).toEqual([...TASKS, 'mean']);
    expect(charts.ndcg!.points).toBeGreaterThanOrEqual(2);
    expect(await page.locator('canvas').count()).toBe(3);

    // Everything is inlined: the page loads nothing but itself.
    expect(requests).toEqual([`file://${path}`]);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(screenshotDir, 'report.png'), fullPage: true });
    await page.close();
  });
});
