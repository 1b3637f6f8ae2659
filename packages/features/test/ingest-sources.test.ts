import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DuckDBSession } from '../src/duckdb-session.ts';
import { basicConfig, FIXTURES, hashDirectory, ingest, readShards, readVocabularyFile, temporaryDirectory } from './helpers.ts';

type Multi = { offsets: Int32Array; values: Int32Array };
type Single = { values: Int32Array };

/** Customer sequences of fixtures/sequences with the item-map catalog of their attribute ids. */
function sequencesConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'sequences',
    events: { kind: 'customer-sequences', path: 'sequences/sequences.txt' },
    catalog: { kind: 'item-map-json', path: 'sequences/attributes.json', valueColumn: 'attributes' },
    features: [
      { name: 'item', from: 'item' },
      { name: 'attributes', from: 'catalog', column: 'attributes', kind: 'multi' },
    ],
    split: { kind: 'leave-last-out' },
    shards: 1,
    ...overrides,
  };
}

describe('ingest sources', () => {
  it('reads customer sequences with an item map', async () => {
    const { outDir, manifest } = await ingest(sequencesConfig());
    const [shard] = await readShards(outDir);

    expect(manifest.timeUnit).toBe('position');
    expect(manifest.events).toBe(9);
    expect(shard!.customerIds).toEqual(['1', '2', '3']);
    expect(Array.from(shard!.customerOffsets)).toEqual([0, 3, 5, 9]);
    expect(Array.from(shard!.time)).toEqual([0, 1, 2, 0, 1, 0, 1, 2, 3]);
    expect(Array.from(shard!.split)).toEqual([0, 1, 2, 1, 2, 0, 0, 1, 2]);

    // Training events: item 10 of customer 1, items 12 and 10 of customer 3.
    expect(await readVocabularyFile(outDir, 'item')).toEqual(['<pad>', '<oov>', '10', '12']);
    expect(await readVocabularyFile(outDir, 'attributes')).toEqual(['<pad>', '<oov>', '1', '2', '3']);
    expect(Array.from((shard!.features.item as Single).values)).toEqual([2, 1, 3, 1, 3, 3, 2, 1, 1]);

    // 10 -> [1, 2], 11 -> [2], 12 -> [3, 1], 13 -> [] (missing, never in training, so OOV).
    const attributes = shard!.features.attributes as Multi;
    expect(Array.from(attributes.offsets)).toEqual([0, 2, 3, 5, 6, 8, 10, 12, 13, 14]);
    expect(Array.from(attributes.values)).toEqual([2, 3, 3, 4, 2, 3, 4, 2, 4, 2, 2, 3, 1, 3]);
  });

  it('applies the item then customer filter', async () => {
    const { outDir, manifest } = await ingest(sequencesConfig({ filter: { minItemEvents: 2, minCustomerEvents: 3 } }));
    const [shard] = await readShards(outDir);

    // Item 13 occurs once; then customer 2 keeps 2 events and customer 3 keeps 3.
    expect(manifest.filteredEvents).toBe(3);
    expect(manifest.customers).toBe(2);
    expect(shard!.customerIds).toEqual(['1', '3']);
    expect(Array.from(shard!.time)).toEqual([0, 1, 2, 0, 1, 3]);
  });

  it('reads a latin-1 catalog with a two-character delimiter', async () => {
    const { outDir } = await ingest({
      name: 'movies',
      events: { path: 'movies/ratings.csv', customer: 'user_id', item: 'movie_id', time: { column: 'position', format: 'order' } },
      catalog: {
        path: 'movies/movies.dat',
        format: 'csv',
        csv: { delimiter: '::', header: false, columns: ['movie_id', 'title', 'genres'], encoding: 'latin-1', quote: '', escape: '' },
        itemKey: 'movie_id',
      },
      features: [
        { name: 'item', from: 'item' },
        { name: 'genres', from: 'catalog', column: 'genres', kind: 'multi', delimiter: '|' },
        { name: 'title', from: 'catalog', column: 'title' },
      ],
      split: { kind: 'leave-last-out' },
      shards: 1,
    });
    const [shard] = await readShards(outDir);

    expect(await readVocabularyFile(outDir, 'title')).toEqual(['<pad>', '<oov>', 'Amélie (2001)', 'Toy Story (1995)']);
    expect(await readVocabularyFile(outDir, 'genres')).toEqual(['<pad>', '<oov>', 'Comedy', 'Animation', "Children's", 'Romance']);
    expect(Array.from((shard!.features.item as Single).values)).toEqual([2, 3, 1, 3, 2, 1]);
    const genres = shard!.features.genres as Multi;
    expect(Array.from(genres.offsets)).toEqual([0, 3, 5, 8, 10, 13, 14]);
    // Movie 3 has only genres unseen in training; movie 4 is not in the catalog.
    expect(Array.from(genres.values)).toEqual([3, 4, 2, 2, 5, 1, 1, 1, 2, 5, 3, 4, 2, 1]);
  });

  it('reads JSON lines and rejects broken ones', async () => {
    const { outDir, manifest } = await ingest({
      name: 'jsonl',
      events: { path: 'jsonl/events.jsonl', customer: 'user', item: 'item', time: { column: 'ts', format: 'epoch-seconds' } },
      features: [
        { name: 'item', from: 'item' },
        { name: 'tags', from: 'event', column: 'tags', kind: 'multi' },
      ],
      split: { kind: 'fraction', train: 0.5, validation: 0.25 },
      maxRejectFraction: 0.5,
      shards: 1,
    });
    const [shard] = await readShards(outDir);
    const rejects = (await readFile(join(outDir, 'rejects.csv'), 'utf8')).trimEnd().split('\n');

    // The blank line 3 is neither a row nor a reject.
    expect(manifest.rowsRead).toBe(4);
    expect(manifest.rejectsByReason).toEqual({ 'invalid-json': 1, 'missing-customer': 1 });
    expect(rejects).toEqual([
      'file,line,reason,raw',
      'jsonl/events.jsonl,2,invalid-json,"{""user"": ""u1"", ""ts"": "',
      'jsonl/events.jsonl,4,missing-customer,"{""ts"": 1704106800, ""item"": ""p2""}"',
    ]);
    expect(shard!.customerIds).toEqual(['u1', 'u2']);
    expect(Array.from(shard!.time)).toEqual([1704103200000, 1704189600000]);
    const tags = shard!.features.tags as Multi;
    expect(Array.from(tags.offsets)).toEqual([0, 1, 3]);
    expect(Array.from(tags.values)).toEqual([2, 1, 1]);
  });

  describe('Parquet', () => {
    let parquetRoot: string;

    beforeAll(async () => {
      parquetRoot = await temporaryDirectory('mcm-parquet-');
      const session = await DuckDBSession.open({ memoryLimit: '256MB', threads: 1, temporaryDirectory: join(parquetRoot, '.tmp') });
      await session.run(
        `COPY (SELECT user_id, CAST(event_time AS TIMESTAMP) AS event_time, event_type, product_id, category_code, brand ` +
          `FROM read_csv('${join(FIXTURES, 'basic/events.csv')}', all_varchar = true)) TO '${join(parquetRoot, 'events.parquet')}' (FORMAT parquet)`,
      );
      await session.run(
        `COPY (SELECT * FROM read_csv('${join(FIXTURES, 'bad/missing-customer.csv')}', all_varchar = true)) ` +
          `TO '${join(parquetRoot, 'missing-customer.parquet')}' (FORMAT parquet)`,
      );
      await session.close();
    });

    it('gives the same shards as the CSV it came from', async () => {
      const fromCsv = await ingest(basicConfig());
      const fromParquet = await ingest(basicConfig({}, 'events.parquet'), { dataRoot: parquetRoot });

      const csvHashes = await hashDirectory(fromCsv.outDir);
      const parquetHashes = await hashDirectory(fromParquet.outDir);
      expect(fromParquet.manifest.duplicateRows).toBe(1);
      for (const file of Object.keys(csvHashes).filter((name) => name !== 'manifest.json')) {
        expect(parquetHashes[file], file).toBe(csvHashes[file]);
      }
    });

    it('reports rejected rows by row number', async () => {
      const config = basicConfig({ maxRejectFraction: 0.5, split: { kind: 'leave-last-out' } }, 'missing-customer.parquet');
      const { outDir, manifest } = await ingest(config, { dataRoot: parquetRoot });
      const rejects = (await readFile(join(outDir, 'rejects.csv'), 'utf8')).trimEnd().split('\n');

      expect(manifest.rejectsByReason).toEqual({ 'missing-customer': 1 });
      expect(rejects[1]).toBe(
        'missing-customer.parquet,2,missing-customer,"{""user_id"":null,""event_time"":""2024-01-01 11:00:00"",""event_type"":""view"",' +
          '""product_id"":""p2"",""category_code"":""electronics.smartphone"",""brand"":""acme""}"',
      );
    });
  });
});
