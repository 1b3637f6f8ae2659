import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@mcm/common';
import { parseDatasetConfig, readManifest, readShard, type Manifest, type ShardData } from '@mcm/schema';
import { runIngest } from '../src/index.ts';

/** The data root of the test fixtures. */
export const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** The shared real datasets, when this checkout has them. */
export const SHARED_DATA = process.env.MCM_DATA_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/data');

/** Creates an empty output directory under the system temporary directory. */
export async function temporaryDirectory(prefix = 'mcm-ingest-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export interface IngestRun {
  outDir: string;
  manifest: Manifest;
}

/** Validates `config` and ingests it from `dataRoot` (default: the fixtures) into a fresh directory. */
export async function ingest(
  config: unknown,
  options: { dataRoot?: string; outDir?: string; threads?: number } = {},
): Promise<IngestRun> {
  const outDir = options.outDir ?? (await temporaryDirectory());
  const logger = createLogger('ingest-test');
  logger.level = 'silent';
  const manifest = await runIngest({
    config: parseDatasetConfig(config, 'test config'),
    configSource: 'test config',
    dataRoot: options.dataRoot ?? FIXTURES,
    outDir,
    threads: options.threads ?? 2,
    memoryLimit: '512MB',
    logger,
  });
  return { outDir, manifest };
}

/** Reads every shard that the manifest of `outDir` lists. */
export async function readShards(outDir: string): Promise<ShardData[]> {
  const manifest = await readManifest(outDir);
  return Promise.all(manifest.shards.map((shard) => readShard(join(outDir, shard.file))));
}

/** Reads `<outDir>/vocab/<feature>.json`. */
export async function readVocabularyFile(outDir: string, feature: string): Promise<string[]> {
  return JSON.parse(await readFile(join(outDir, 'vocab', `${feature}.json`), 'utf8')) as string[];
}

/** Maps every file under `dir` (relative path) to the sha256 of its content. */
export async function hashDirectory(dir: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    hashes[relative(dir, path)] = createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return Object.fromEntries(Object.entries(hashes).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Epoch milliseconds of a UTC date-time written as "YYYY-MM-DD HH:MM:SS". */
export function utc(value: string): number {
  return Date.parse(`${value.replace(' ', 'T')}Z`);
}

/** Returns a config over one CSV file of the fixtures with the columns of basic/events.csv. */
export function basicConfig(overrides: Record<string, unknown> = {}, path = 'basic/events.csv'): Record<string, unknown> {
  return {
    name: 'basic',
    events: {
      path,
      customer: 'user_id',
      item: 'product_id',
      time: { column: 'event_time', format: 'iso' },
      eventType: { column: 'event_type' },
    },
    categoryPath: { column: 'category_code' },
    brand: { column: 'brand' },
    features: ['product_line', 'category', 'subcategory', 'brand', 'event_type', { name: 'item', from: 'item' }],
    split: { kind: 'time', trainEnd: '2024-01-10', validationEnd: '2024-01-20' },
    shards: 1,
    ...overrides,
  };
}
