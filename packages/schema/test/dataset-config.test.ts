import { readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  canonicalConfigJson,
  DatasetConfigError,
  inferFormat,
  loadDatasetConfig,
  parseDatasetConfig,
  parseIsoInstant,
} from '../src/dataset-config.ts';

const DATASETS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../datasets');

/** Returns a valid config of one CSV source whose category path and brand are event columns. */
function minimalConfig(): Record<string, unknown> {
  return {
    name: 'shop',
    events: { path: 'shop/events.csv.gz', customer: 'user_id', item: 'product_id', time: { column: 'ts', format: 'epoch-seconds' } },
    categoryPath: { column: 'category_code' },
    brand: { column: 'brand' },
  };
}

/** Returns the issue lines of the error that parseDatasetConfig raises for `value`. */
function issuesOf(value: unknown): string[] {
  try {
    parseDatasetConfig(value, 'shop.json');
  } catch (error) {
    if (error instanceof DatasetConfigError) return error.issues;
    throw error;
  }
  throw new Error('the config was accepted');
}

describe('parseDatasetConfig', () => {
  it('fills in every default', () => {
    const config = parseDatasetConfig(minimalConfig());

    expect(config.maxLength).toBe(300);
    expect(config.shards).toBe(8);
    expect(config.maxRejectFraction).toBe(0.01);
    expect(config.split).toEqual({ kind: 'fraction', train: 0.8, validation: 0.1 });
    expect(config.filter).toBeNull();
    expect(config.catalog).toBeNull();
    expect(config.events).toHaveLength(1);
    expect(config.events[0]).toMatchObject({
      kind: 'rows',
      format: 'csv',
      eventType: { constant: 'interaction' },
    });
  });

  it('derives the five default features', () => {
    const config = parseDatasetConfig(minimalConfig());

    expect(config.features.map((feature) => [feature.name, feature.column, feature.pathLevel, feature.task])).toEqual([
      ['product_line', 'category_code', 0, true],
      ['category', 'category_code', 1, true],
      ['subcategory', 'category_code', 2, true],
      ['brand', 'brand', null, true],
      ['event_type', null, null, false],
    ]);
    expect(config.features[0]!.pathDelimiter).toBe('.');
  });

  it('mixes default names with full features', () => {
    const config = parseDatasetConfig({ ...minimalConfig(), features: ['brand', { name: 'item', from: 'item' }] });

    expect(config.features.map((feature) => feature.name)).toEqual(['brand', 'item']);
    expect(config.features[1]).toMatchObject({ from: 'item', kind: 'single', task: true, vocabulary: { minCount: 1, maxSize: null } });
  });

  it('names unknown fields', () => {
    expect(issuesOf({ ...minimalConfig(), maxLenght: 200 })).toEqual(['(top level): unknown field "maxLenght"; check the spelling or remove it']);
  });

  it('names a missing required field', () => {
    const config = minimalConfig();
    delete (config.events as Record<string, unknown>).customer;

    expect(issuesOf(config)).toEqual(['events[0].customer: is required']);
  });

  it('lists the time formats', () => {
    const config = minimalConfig();
    (config.events as Record<string, unknown>).time = { column: 'ts', format: 'unix' };

    expect(issuesOf(config)).toEqual([
      'events[0].time.format: must be one of "epoch-seconds", "epoch-milliseconds", "iso", "strptime", "order"; got "unix"',
    ]);
  });

  it('rejects paths outside the data root', () => {
    const absolute = minimalConfig();
    (absolute.events as Record<string, unknown>).path = '/data/shop/events.csv';
    const parent = minimalConfig();
    (parent.events as Record<string, unknown>).path = '../shop/events.csv';

    expect(issuesOf(absolute)[0]).toMatch(/^events\[0\]\.path: must be relative to the data root \(--data-root or MCM_DATA_ROOT\)/);
    expect(issuesOf(parent)).toEqual(['events[0].path: must stay inside the data root; remove the ".." segments']);
  });

  it('asks for a format it cannot infer', () => {
    const config = minimalConfig();
    (config.events as Record<string, unknown>).path = 'shop/events.bin';

    expect(issuesOf(config)).toEqual([
      'events[0].format: is required because the extension of "shop/events.bin" does not name a known format; set "csv", "parquet" or "jsonl"',
    ]);
  });

  it('needs column names without a header', () => {
    const config = minimalConfig();
    (config.events as Record<string, unknown>).csv = { header: false };

    expect(issuesOf(config)).toEqual(['events[0].csv.columns: is required when header is false: list the column names in file order']);
  });

  it('points order-only data to leave-last-out', () => {
    const config = { ...minimalConfig(), events: { kind: 'customer-sequences', path: 'beauty.txt' }, features: [{ name: 'item', from: 'item' }] };

    expect(issuesOf(config)).toEqual(['split.kind: is "fraction", but the events only have an order, no timestamps; use {"kind": "leave-last-out"}']);
  });

  it('orders the time cut-offs', () => {
    const config = { ...minimalConfig(), split: { kind: 'time', trainEnd: '2024-02-01', validationEnd: '2024-01-01T00:00:00Z' } };

    expect(issuesOf(config)).toEqual(['split.validationEnd: must be later than trainEnd (2024-02-01); got 2024-01-01T00:00:00Z']);
  });

  it('leaves a test period in fraction splits', () => {
    const config = { ...minimalConfig(), split: { kind: 'fraction', train: 0.8, validation: 0.2 } };

    expect(issuesOf(config)).toEqual(['split: train + validation must be below 1 so that a test period remains; got 0.8 + 0.2']);
  });

  it('needs the columns of default features', () => {
    const config = minimalConfig();
    delete config.brand;

    expect(issuesOf(config)).toEqual([
      'features: uses the default feature "brand", which needs a top-level "brand": {"column": "<brand column>"}; add it or define the feature in full',
    ]);
  });

  it('checks feature definitions', () => {
    const config = {
      ...minimalConfig(),
      features: [
        { name: 'item', from: 'item' },
        { name: 'item', from: 'item' },
        { name: 'genres', from: 'catalog', column: 'genres', kind: 'multi', delimiter: '|' },
        { name: 'tags', from: 'event', pathLevel: 1 },
        'colour',
      ],
    };

    expect(issuesOf(config)).toEqual([
      'features[3].column: is required when "from" is "event": name the column to read',
      'features[4]: must be one of "product_line", "category", "subcategory", "brand", "event_type"; got "colour"',
    ]);
    config.features.splice(3, 2);
    expect(issuesOf(config)).toEqual([
      'features[1]: repeats the feature name "item"; every feature needs its own name',
      'features[2].from: is "catalog", but the config has no "catalog"; add one or read an event column',
      'features: defines 2 features with "from": "item"; keep one',
    ]);
  });

  it('checks numeric limits', () => {
    expect(issuesOf({ ...minimalConfig(), maxLength: 1, shards: 0, maxRejectFraction: 2 })).toEqual([
      'maxLength: must be at least 2 (one history event and one label)',
      'shards: must be at least 1',
      'maxRejectFraction: must be between 0 and 1',
    ]);
  });

  it('describes a wrong type', () => {
    expect(issuesOf({ ...minimalConfig(), maxLength: '300' })).toEqual(['maxLength: must be a number, got "300"']);
  });

  it('serialises canonically', () => {
    const reordered = Object.fromEntries(Object.entries(minimalConfig()).reverse());

    expect(canonicalConfigJson(parseDatasetConfig(reordered))).toBe(canonicalConfigJson(parseDatasetConfig(minimalConfig())));
  });
});

describe('config helpers', () => {
  it('infers formats from extensions', () => {
    expect(inferFormat('a/events.csv.gz')).toBe('csv');
    expect(inferFormat('a/movies.dat')).toBe('csv');
    expect(inferFormat('a/part-*.parquet')).toBe('parquet');
    expect(inferFormat('a/events.jsonl.zst')).toBe('jsonl');
    expect(inferFormat('a/events')).toBeNull();
  });

  it('reads ISO instants as UTC', () => {
    expect(parseIsoInstant('2019-10-01')).toBe(Date.UTC(2019, 9, 1));
    expect(parseIsoInstant('2019-10-01T02:10:00')).toBe(Date.UTC(2019, 9, 1, 2, 10));
    expect(parseIsoInstant('2019-10-01T02:10:00+02:00')).toBe(Date.UTC(2019, 9, 1, 0, 10));
  });
});

describe('loadDatasetConfig', () => {
  it('names a missing file', async () => {
    await expect(loadDatasetConfig('/nonexistent/shop.json')).rejects.toThrow(
      'dataset config /nonexistent/shop.json not found; pass --config with the path of a datasets/<name>.json file',
    );
  });

  it('accepts every config in datasets/', async () => {
    const files = (await readdir(DATASETS)).filter((name) => name.endsWith('.json'));

    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const file of files) {
      const config = await loadDatasetConfig(join(DATASETS, file));
      expect(config.name, file).toBe(file.replace(/\.json$/, ''));
    }
  });
});
