import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { Queue } from 'bullmq';
import { CustomerModel, createModelConfig, type ModelConfig } from '@mcm/model';
import { closeRedis, connectRedis, NIGHTLY_QUEUE } from '@mcm/queue';
import { addTrainOptions, runTrainCommand, type TrainCommandOptions } from '@mcm/trainer/train-command';
import { useCpuBackend } from '../../../packages/training/test/helpers/backend.ts';
import { silentLogger } from '../../../packages/training/test/helpers/silent-logger.ts';
import { buildManifest, buildShard, plantedPatternCustomers, writeDataset, PLANTED_VOCABULARIES } from '../../../packages/training/test/helpers/dataset-fixture.ts';
import { testPolicy, uniquePrefix } from '../../../packages/queue/test/helpers/fixture.ts';
import { deletePrefix, REDIS_URL } from '../../../packages/queue/test/helpers/redis.ts';
import { validateNightlyConfig, type NightlyConfig } from '../src/nightly/nightly-config.ts';
import { readPromotedModel, runNightly, type NightlyOutcome, type NightlySteps } from '../src/nightly/nightly-run.ts';
import { NIGHTLY_SCHEDULER_ID, nightName, removeNightlySchedule, upsertNightlySchedule } from '../src/nightly/nightly-schedule.ts';
import { vocabularyMapping, warmStartModel, warmStartWeights } from '../src/nightly/warm-start.ts';

const cleanups: Array<() => Promise<void>> = [];
let root: string;

beforeAll(async () => {
  await useCpuBackend();
  root = await mkdtemp(join(tmpdir(), 'mcm-nightly-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function tinyConfig(categories: number, brands: number): ModelConfig {
  return createModelConfig({
    features: [
      { name: 'category', kind: 'single', vocabularySize: categories },
      { name: 'brand', kind: 'single', vocabularySize: brands },
    ],
    tasks: [
      { name: 'category', feature: 'category', vocabularySize: categories },
      { name: 'brand', feature: 'brand', vocabularySize: brands },
    ],
    maxLength: 10,
    hidden: 8,
    layers: 1,
    heads: 2,
    ffnWidth: 16,
    dropout: 0,
  });
}

/** Returns row `index` of a [rows, width] weight. */
function row(weight: { shape: number[]; values: Float32Array }, index: number): number[] {
  const width = weight.values.length / weight.shape[0]!;
  return Array.from(weight.values.subarray(index * width, (index + 1) * width));
}

/**
 * Writes a fixture ingest output whose vocabulary files name the ids' values. `names`
 * maps a feature's id to its value; night two reorders the values and adds one.
 */
async function writeNightData(dir: string, names: (feature: string, id: number) => string, extraValue: boolean): Promise<void> {
  const customers = plantedPatternCustomers(80, 3);
  const features = Object.keys(PLANTED_VOCABULARIES);
  const shards = [buildShard(customers, features)];
  const vocabularies = { ...PLANTED_VOCABULARIES, category: PLANTED_VOCABULARIES.category + (extraValue ? 1 : 0) };
  const manifest = { ...buildManifest('nightly-fixture', vocabularies, shards, `nightly-${extraValue}`), maxLength: 10 };
  await writeDataset(dir, manifest, shards);
  await mkdir(join(dir, 'vocab'), { recursive: true });
  for (const [feature, size] of Object.entries(vocabularies)) {
    const values = ['<pad>', '<oov>'];
    for (let id = 2; id < size; id++) values.push(names(feature, id));
    await writeFile(join(dir, 'vocab', `${feature}.json`), JSON.stringify(values));
  }
}

describe('warm start', () => {
  it('maps vocabulary ids by value', () => {
    const mapping = vocabularyMapping(['<pad>', '<oov>', 'a', 'b', 'c'], ['<pad>', '<oov>', 'c', 'd', 'a']);
    expect(Array.from(mapping)).toEqual([0, 1, 4, -1, 2]);
  });

  it('keeps rows of known values', () => {
    const previousConfig = tinyConfig(5, 4);
    const config = tinyConfig(6, 4);
    const previous = CustomerModel.create(previousConfig, 1);
    const fresh = CustomerModel.create(config, 2);
    const previousWeights = previous.getWeights();
    const freshWeights = fresh.getWeights();
    const mappings = {
      category: Int32Array.from([0, 1, 4, -1, 2, 3]),
      brand: Int32Array.from([0, 1, 2, 3]),
    };

    const { weights, copied, mapped, reinitialised } = warmStartWeights(previousWeights, freshWeights, config, mappings);
    const table = weights['embedding/category']!;
    expect(row(table, 2)).toEqual(row(previousWeights['embedding/category']!, 4));
    expect(row(table, 4)).toEqual(row(previousWeights['embedding/category']!, 2));
    expect(row(table, 3)).toEqual(row(freshWeights['embedding/category']!, 3));
    expect(mapped['embedding/category']).toEqual({ keptRows: 5, newRows: 1, droppedValues: 0 });
    expect(weights['task/category/bias']!.values.length).toBe(6);
    expect(mapped['embedding/brand']).toEqual({ keptRows: 4, newRows: 0, droppedValues: 0 });
    expect(weights['embedding/brand']!.values).toEqual(previousWeights['embedding/brand']!.values);
    expect(copied).toContain('block0/attention/query/kernel');
    expect(copied).toContain('embedding/position');
    expect(weights['embedding/position']!.values).toEqual(previousWeights['embedding/position']!.values);
    expect(reinitialised).toEqual([]);

    const forComparison = warmStartWeights(previousWeights, freshWeights, config, mappings, 'oov');
    expect(row(forComparison.weights['embedding/category']!, 3)).toEqual(row(previousWeights['embedding/category']!, 1));
    previous.dispose();
    fresh.dispose();
  });
});

describe('nightly schedule', () => {
  it('names a night in its time zone', () => {
    expect(nightName(new Date('2026-01-05T01:30:00Z'), 'Europe/Berlin')).toBe('20260105-0230');
    expect(nightName(new Date('2026-01-05T01:30:00Z'), 'America/New_York')).toBe('20260104-2030');
  });

  it('rejects an invalid config', () => {
    const valid = { cron: '30 2 * * *', timezone: 'Europe/Berlin', datasetConfig: 'd.json', root: 'r', tolerance: 0.002, trainArguments: [] };
    expect(validateNightlyConfig(valid, 'n.json').tolerance).toBe(0.002);
    expect(() => validateNightlyConfig({ ...valid, timezone: 'Mars/Olympus' }, 'n.json')).toThrow('"timezone" must be an IANA time zone');
    expect(() => validateNightlyConfig({ ...valid, cron: 'nightly' }, 'n.json')).toThrow('"cron" must have 5 or 6 fields');
    expect(() => validateNightlyConfig({ ...valid, trainArguments: ['--out', 'x'] }, 'n.json')).toThrow('must not contain --out');
  });

  it('schedules by cron and time zone', async () => {
    const prefix = uniquePrefix('nightly');
    const redis = await connectRedis(REDIS_URL, { policy: testPolicy(), logger: silentLogger(), role: 'test' });
    cleanups.push(async () => {
      await deletePrefix(REDIS_URL, prefix);
      await closeRedis(redis);
    });
    const config: NightlyConfig = { cron: '30 2 * * *', timezone: 'Europe/Berlin', datasetConfig: '/d.json', root: '/r', tolerance: 0.002, trainArguments: [] };

    const next = await upsertNightlySchedule(redis, prefix, config, '/etc/mcm/nightly.json');

    expect(next).not.toBeNull();
    expect(nightName(next!, 'Europe/Berlin').endsWith('-0230')).toBe(true);
    expect(next!.getTime()).toBeGreaterThan(Date.now());
    expect(next!.getTime()).toBeLessThanOrEqual(Date.now() + 25 * 3600_000);
    const queue = new Queue(NIGHTLY_QUEUE, { connection: redis, prefix });
    const scheduler = await queue.getJobScheduler(NIGHTLY_SCHEDULER_ID);
    expect(scheduler?.pattern).toBe('30 2 * * *');
    expect(scheduler?.tz).toBe('Europe/Berlin');
    expect(await queue.getDelayedCount()).toBe(1);
    await queue.close();
    expect(await removeNightlySchedule(redis, prefix)).toBe(true);
  });
});

describe('nightly run', () => {
  it('warm-starts and promotes within tolerance', async () => {
    // Night one numbers the values in id order; later nights reverse the categories and add one.
    const firstNames = (feature: string, id: number) => `${feature}-${id}`;
    const laterNames = (feature: string, id: number) => {
      if (feature !== 'category') return `${feature}-${id}`;
      if (id === PLANTED_VOCABULARIES.category) return 'category-new';
      return `category-${PLANTED_VOCABULARIES.category + 1 - id}`;
    };
    let night = 0;
    const warmStarts: Array<string | null> = [];
    const steps: NightlySteps = {
      ingest: (_config, outDir) => writeNightData(outDir, night === 1 ? firstNames : laterNames, night > 1),
      train: async (_config, dataDir, runDir, warmStartFrom) => {
        warmStarts.push(warmStartFrom);
        const command = addTrainOptions(new Command('train')).exitOverride();
        command.parse(
          ['--data', dataDir, '--out', runDir, '--max-steps', '4', '--eval-every', '2', '--customers-per-batch', '16', '--hidden', '8', '--layers', '1']
            .concat(['--heads', '2', '--ffn', '16', '--dropout', '0', '--max-length', '10', '--backend', 'cpu', '--lr', '0.01', '--warmup-steps', '1']),
          { from: 'user' },
        );
        await runTrainCommand(command.opts<TrainCommandOptions>(), {
          loggerName: 'test',
          ...(warmStartFrom === null ? {} : { initializeModel: async (model, setup) => void (await warmStartModel(model, setup.data.dir, warmStartFrom, silentLogger())) }),
        });
      },
    };
    const config: NightlyConfig = { cron: '30 2 * * *', timezone: 'UTC', datasetConfig: '/unused.json', root, tolerance: 1, trainArguments: [] };
    const previousLevel = process.env.MCM_LOG_LEVEL;
    process.env.MCM_LOG_LEVEL = 'silent';
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    const outcomes: NightlyOutcome[] = [];
    try {
      night = 1;
      outcomes.push(await runNightly(config, 'night-1', steps, silentLogger()));
      night = 2;
      outcomes.push(await runNightly(config, 'night-2', steps, silentLogger()));
      night = 3;
      outcomes.push(await runNightly({ ...config, tolerance: -1 }, 'night-3', steps, silentLogger()));
    } finally {
      process.stdout.write = write;
      process.env.MCM_LOG_LEVEL = previousLevel;
    }

    expect(warmStarts).toEqual([null, join(root, 'runs', 'night-1'), join(root, 'runs', 'night-2')]);
    expect(outcomes.map((outcome) => outcome.promoted)).toEqual([true, true, false]);
    expect(outcomes[0]!.previousValidationNdcg).toBeNull();
    expect(outcomes[1]!.previousValidationNdcg).toBeGreaterThan(0);
    expect(outcomes[2]!.reason).toContain('more than -1 below');
    const promoted = await readPromotedModel(root);
    expect(promoted!.run).toBe(join(root, 'runs', 'night-2'));
    const lines = (await readFile(join(root, 'nightly.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(3);
  });
});
