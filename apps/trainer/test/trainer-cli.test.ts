import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildManifest, buildShard, PLANTED_VOCABULARIES, plantedPatternCustomers, writeDataset } from '../../../packages/training/test/helpers/dataset-fixture.ts';
import { temporaryDirectories } from './helpers/temporary-directories.ts';
import { registerEvaluateCommand } from '../src/evaluate-command.ts';
import type { MetricsReport } from '../src/evaluation-report.ts';
import { registerTrainCommand } from '../src/train-command.ts';

const TINY_MODEL = ['--hidden', '16', '--layers', '1', '--heads', '2', '--ffn', '32', '--max-length', '8', '--backend', 'wasm'];
const directories = temporaryDirectories();
let dataDir: string;

/** Runs the trainer CLI in this process and returns what it printed to stdout. */
async function runCli(args: string[]): Promise<string> {
  const program = new Command('mcm-trainer').exitOverride();
  registerTrainCommand(program);
  registerEvaluateCommand(program);
  let printed = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'cli', ...args]);
  } finally {
    write.mockRestore();
  }
  return printed;
}

async function readMetrics(runDir: string): Promise<MetricsReport> {
  return JSON.parse(await readFile(join(runDir, 'metrics.json'), 'utf8')) as MetricsReport;
}

beforeAll(async () => {
  process.env.MCM_LOG_LEVEL = 'silent';
  dataDir = await directories.create('mcm-cli-data-');
  const customers = plantedPatternCustomers(300, 9);
  const shards = [buildShard(customers.slice(0, 150), ['category', 'brand']), buildShard(customers.slice(150), ['category', 'brand'])];
  await writeDataset(dataDir, buildManifest('planted', PLANTED_VOCABULARIES, shards, 'planted-fingerprint'), shards);
});

afterAll(async () => {
  await directories.removeAll();
});

describe('trainer CLI', () => {
  it('trains, evaluates, resumes and re-evaluates a run', async () => {
    const runDir = await directories.create('mcm-cli-run-');
    const table = await runCli(['train', '--data', dataDir, '--out', runDir, '--max-steps', '20', '--eval-every', '10', ...TINY_MODEL]);

    expect(table).toContain('planted, test split: mcm vs popularity');
    expect(table).toMatch(/\| category +\| 300 +\| \d\.\d{4} +\| \d\.\d{4} +\| \d+\.\d{2}x/);
    const metrics = await readMetrics(runDir);
    expect(metrics.model).toBe('mcm');
    expect(metrics.dataset).toBe('planted');
    expect(metrics.backend).toBe('wasm');
    expect(metrics.split).toBe('test');
    expect(Object.keys(metrics.tasks).sort()).toEqual(['brand', 'category']);
    expect(Object.keys(metrics.tasks.category!).sort()).toEqual(['examples', 'mrr@10', 'ndcg@10', 'precision@10', 'recall@10']);
    expect(metrics.tasks.category!.examples).toBe(300);
    expect(Object.keys(metrics.baselines).sort()).toEqual(['last-value', 'popularity']);
    expect(metrics.baselines.popularity!.category!['ndcg@10']).toBeGreaterThan(0);
    expect(metrics.training).toMatchObject({ steps: 20, stopReason: 'max-steps', maxSteps: 20, budgetMinutes: 30 });
    expect(metrics.checkpoint).toMatchObject({ kind: 'best' });
    expect(existsSync(join(runDir, 'config.json'))).toBe(true);
    expect((await readFile(join(runDir, 'steps.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(20);

    await runCli(['train', '--data', dataDir, '--out', runDir, '--max-steps', '25', '--resume', ...TINY_MODEL]);
    expect((await readFile(join(runDir, 'steps.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(25);
    const resumed = await readMetrics(runDir);
    expect(resumed.training).toMatchObject({ steps: 25 });

    await runCli(['evaluate', '--run', runDir, '--split', 'validation', '--k', '5,20', '--backend', 'wasm']);
    const validation = await readMetrics(runDir);
    expect(validation.split).toBe('validation');
    expect(validation.ks).toEqual([5, 10, 20]);
    expect(Object.keys(validation.tasks.brand!)).toEqual(expect.arrayContaining(['ndcg@5', 'ndcg@10', 'ndcg@20', 'mrr@20']));
    expect(validation.training).toMatchObject({ steps: 25 });

    await runCli(['evaluate', '--run', runDir, '--checkpoint', 'last', '--backend', 'wasm']);
    const last = await readMetrics(runDir);
    expect(last.checkpoint).toEqual({ kind: 'last', step: 25 });
  });

  it('evaluates the popularity baseline without training', async () => {
    const runDir = await directories.create('mcm-cli-popularity-');
    await runCli(['train', '--data', dataDir, '--out', runDir, '--model', 'popularity', '--backend', 'cpu']);
    const metrics = await readMetrics(runDir);
    expect(metrics.model).toBe('popularity');
    expect(metrics.tasks).toEqual(metrics.baselines.popularity);
    expect(metrics.checkpoint).toBeNull();
    expect(metrics.excludeSeen).toBe(false);
    expect(existsSync(join(runDir, 'checkpoints'))).toBe(false);

    const table = await runCli(['evaluate', '--run', runDir, '--filter-seen', '--backend', 'cpu']);
    expect(table).toContain('planted, test split, seen values excluded: popularity');
    const unseen = await readMetrics(runDir);
    expect(unseen.excludeSeen).toBe(true);
    // The planted customers repeat categories, so leaving seen values out must change the numbers.
    expect(unseen.tasks.category!['ndcg@10']).not.toBeCloseTo(metrics.tasks.category!['ndcg@10']!, 6);
  });

  it('rejects an unknown model, and a per-task model given several tasks', async () => {
    const runDir = await directories.create('mcm-cli-unknown-');
    await expect(runCli(['train', '--data', dataDir, '--out', runDir, '--model', 'gru4rec'])).rejects.toThrow(
      /unknown model "gru4rec"; available: mcm, popularity, last-value, mcm-mtl, mcm-single, bert4rec, sasrec/,
    );
    await expect(runCli(['train', '--data', dataDir, '--out', runDir, '--model', 'bert4rec', ...TINY_MODEL])).rejects.toThrow(
      /--model bert4rec trains one model per task, but the run has 2 tasks \(category, brand\); pass --tasks/,
    );
  });

  // Each baseline and ablation variant must learn the planted next-category rule, which
  // popularity cannot learn. A variant that saw its label would also pass, so the masking
  // tests of the model and the samplers rule that out.
  for (const [model, extra] of [
    ['sasrec', ['--tasks', 'category']],
    ['bert4rec', ['--tasks', 'category', '--mask-probability', '0.3']],
    ['mcm-single', ['--tasks', 'category', '--mask-probability', '0.3']],
    ['mcm-mtl', []],
  ] as const) {
    it(`trains ${model} above popularity on the planted pattern`, async () => {
      const runDir = await directories.create(`mcm-cli-${model}-`);
      await runCli(['train', '--data', dataDir, '--out', runDir, '--model', model, '--max-steps', '120', '--eval-every', '60', '--lr', '0.005', '--warmup-steps', '10', ...extra, ...TINY_MODEL]);
      const metrics = await readMetrics(runDir);
      expect(metrics.model).toBe(model);
      const learned = metrics.tasks.category!['ndcg@10']!;
      const popularity = metrics.baselines.popularity!.category!['ndcg@10']!;
      expect(learned, JSON.stringify(metrics.tasks)).toBeGreaterThan(1.5 * popularity);
    });
  }

  it('rejects a decay without a step budget', async () => {
    const runDir = await directories.create('mcm-cli-decay-');
    await expect(runCli(['train', '--data', dataDir, '--out', runDir, '--decay', 'cosine', ...TINY_MODEL])).rejects.toThrow(/cosine decay needs a step budget: pass --max-steps/);
  });

  it('explains every option with its default', async () => {
    const { stdout } = await promisify(execFile)('npx', ['tsx', 'apps/trainer/src/cli.ts', 'train', '--help'], { cwd: join(import.meta.dirname, '../../..') });
    for (const option of ['--data', '--out', '--model', '--budget-minutes', '--max-steps', '--customers-per-batch', '--lr', '--seed', '--backend', '--resume', '--eval-every', '--hidden']) {
      expect(stdout).toContain(option);
    }
    expect(stdout).toContain('(default: 30)');
    expect(stdout).toContain('(default: 64)');
    expect(stdout).toContain('--mask-probability');
    expect(stdout).toContain('sasrec');
  });
});
