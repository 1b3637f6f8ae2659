import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildManifest, buildShard, PLANTED_VOCABULARIES, plantedPatternCustomers, writeDataset } from '../../../packages/training/test/helpers/dataset-fixture.ts';
import { temporaryDirectories } from './helpers/temporary-directories.ts';
import { registerAblationCommand } from '../src/ablation-command.ts';
import { formatAblationMarkdown, type AblationResults } from '../src/ablation-report.ts';

const directories = temporaryDirectories();
let dataDir: string;

beforeAll(async () => {
  process.env.MCM_LOG_LEVEL = 'silent';
  dataDir = await directories.create('mcm-ablation-data-');
  const customers = plantedPatternCustomers(200, 5);
  const shards = [buildShard(customers, ['category', 'brand'])];
  await writeDataset(dataDir, buildManifest('synth', PLANTED_VOCABULARIES, shards, 'planted-ablation'), shards);
});

afterAll(async () => {
  await directories.removeAll();
});

describe('trainer:ablation', () => {
  it('writes both tables, one run per task', async () => {
    const work = await directories.create('mcm-ablation-work-');
    const results = join(work, 'results');
    const program = new Command('mcm-trainer').exitOverride();
    registerAblationCommand(program);
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await program.parseAsync(
        ['ablation', '--dataset', 'synth', '--data', dataDir, '--work', work, '--results', results, '--budget', '0.04', '--models', 'popularity,sasrec,mcm-mtl', '--max-length', '8', '--backend', 'wasm'],
        { from: 'user' },
      );
    } finally {
      write.mockRestore();
    }

    const json = JSON.parse(await readFile(join(results, 'synth.json'), 'utf8')) as AblationResults;
    expect(json.rows.map((row) => row.model)).toEqual(['popularity', 'sasrec', 'mcm-mtl']);
    expect(json.tasks).toEqual(['category', 'brand']);
    expect(json.command).toBe(`npx nx run trainer:ablation -- --dataset synth --budget 0.04 --seed 1 --models popularity,sasrec,mcm-mtl --max-length 8 --data ${dataDir} --backend wasm`);
    const sasrec = json.rows[1]!;
    expect(sasrec.runs.map((run) => run.tasks)).toEqual([['category'], ['brand']]);
    expect(sasrec.steps).toBeGreaterThan(0);
    expect(json.rows[0]!.steps).toBe(0);
    for (const row of json.rows) {
      expect(row.metrics.category!.examples).toBe(200);
      expect(row.metrics.brand!['ndcg@10']).toBeGreaterThan(0);
    }

    const markdown = await readFile(join(results, 'synth.md'), 'utf8');
    expect(markdown).toContain(`    ${json.command}`);
    expect(markdown).toMatch(/\| sasrec \| \**\d\.\d{4}\** \| \d\.\d{4} \| \**\d\.\d{4}\** \| \d\.\d{4} \| \d+ \| [\d.]+ s \| wasm \|/);
  });

  it('rejects data of another dataset and a model named twice', async () => {
    const program = new Command('mcm-trainer').exitOverride();
    registerAblationCommand(program);
    await expect(program.parseAsync(['ablation', '--dataset', 'ml-1m', '--data', dataDir, '--budget', '0.01'], { from: 'user' })).rejects.toThrow(
      /contains dataset "synth" \(its manifest.json\), not "ml-1m"; pass --dataset synth/,
    );
    await expect(program.parseAsync(['ablation', '--dataset', 'synth', '--data', dataDir, '--models', 'sasrec,mcm,sasrec'], { from: 'user' })).rejects.toThrow(
      /--models names sasrec more than once/,
    );
  });

  it('marks the best NDCG@10 of each task and shows missing tasks', () => {
    const metrics = (ndcg: number, recall: number) => ({ examples: 10, 'ndcg@10': ndcg, 'recall@10': recall });
    const results: AblationResults = {
      dataset: 'demo',
      command: 'npx nx run trainer:ablation -- --dataset demo --budget 1 --seed 1',
      split: 'test',
      examples: { item: 10, genre: 10 },
      tasks: ['item', 'genre'],
      budgetMinutes: 1,
      budgetPerTask: false,
      seed: 1,
      machine: '2 cores',
      wallSeconds: 90,
      createdAt: '2026-12-05T00:00:00.000Z',
      rows: [
        { model: 'popularity', description: 'counts', backend: 'wasm', split: 'test', metrics: { item: metrics(0.1, 0.2), genre: metrics(0.5, 0.6) }, steps: 0, wallSeconds: 0.5, runs: [] },
        { model: 'sasrec', description: 'causal', backend: 'wasm', split: 'test', metrics: { item: metrics(0.25, 0.4) }, steps: 300, wallSeconds: 75, runs: [] },
      ],
    };
    const markdown = formatAblationMarkdown(results);
    expect(markdown).toContain('| popularity | 0.1000 | 0.2000 | **0.5000** | 0.6000 | - | 0.5 s | wasm |');
    expect(markdown).toContain('| sasrec | **0.2500** | 0.4000 | n/a | n/a | 300 | 1.3 min | wasm |');
    expect(markdown).toContain('The whole ablation took 1.5 minutes (2026-12-05).');
    expect(formatAblationMarkdown({ ...results, loadAverage: { start: 6.25, end: 2 } })).toContain('Machine: 2 cores, load average 6.3 at the start and 2.0 at the end.');
  });
});
