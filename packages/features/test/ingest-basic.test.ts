import { describe, expect, it } from 'vitest';
import { SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION } from '@mcm/schema';
import { basicConfig, ingest, readShards, readVocabularyFile, utc } from './helpers.ts';

// basic/events.csv contains 10 rows of 3 customers ("c1", "9", "10") with one exact
// duplicate (customer 9 at 2024-01-05 09:00). Training ends 2024-01-10 and
// validation 2024-01-20. The expectations below are counted by hand from the file.

describe('ingest of basic/events.csv', () => {
  it('counts rows, duplicates and splits', async () => {
    const { manifest } = await ingest(basicConfig());

    expect(manifest.rowsRead).toBe(10);
    expect(manifest.rejectedRows).toBe(0);
    expect(manifest.rejectFile).toBeNull();
    expect(manifest.duplicateRows).toBe(1);
    expect(manifest.truncatedEvents).toBe(0);
    expect(manifest.events).toBe(9);
    expect(manifest.customers).toBe(3);
    expect(manifest.splitEvents).toEqual({ train: 6, validation: 2, test: 1 });
    expect(manifest.split.trainEndIso).toBe('2024-01-10T00:00:00.000Z');
    expect(manifest.split.validationEndIso).toBe('2024-01-20T00:00:00.000Z');
    expect(manifest.tasks).toEqual(['product_line', 'category', 'subcategory', 'brand', 'item']);
    expect(manifest.itemFeature).toBe('item');
    expect(manifest.timeUnit).toBe('epoch-ms');
    const { rejectedRows, duplicateRows, filteredEvents, truncatedEvents, events } = manifest;
    expect(manifest.rowsRead).toBe(rejectedRows + duplicateRows + filteredEvents! + truncatedEvents + events);
  });

  it('builds vocabularies from the training period', async () => {
    const { outDir, manifest } = await ingest(basicConfig());

    expect(await readVocabularyFile(outDir, 'product_line')).toEqual(['<pad>', '<oov>', 'electronics', '<missing>']);
    expect(await readVocabularyFile(outDir, 'category')).toEqual(['<pad>', '<oov>', 'electronics.smartphone', '<missing>']);
    // 3 against 3: the tie goes to the smaller value in byte order, and "<" sorts before "e".
    expect(await readVocabularyFile(outDir, 'subcategory')).toEqual(['<pad>', '<oov>', '<missing>', 'electronics.smartphone.case']);
    // "zeta" and "late" occur only after the training cut-off.
    expect(await readVocabularyFile(outDir, 'brand')).toEqual(['<pad>', '<oov>', 'acme', '<missing>']);
    expect(await readVocabularyFile(outDir, 'event_type')).toEqual(['<pad>', '<oov>', 'view', 'cart', 'purchase']);
    expect(await readVocabularyFile(outDir, 'item')).toEqual(['<pad>', '<oov>', 'p1', 'p2', 'p5']);
    expect(manifest.vocabularies).toEqual({ product_line: 4, category: 4, subcategory: 4, brand: 4, event_type: 5, item: 5 });
  });

  it('writes customers in byte order with their events', async () => {
    const { outDir } = await ingest(basicConfig());
    const [shard] = await readShards(outDir);

    expect(shard!.customerIds).toEqual(['10', '9', 'c1']);
    expect(Array.from(shard!.customerOffsets)).toEqual([0, 2, 4, 9]);
    expect(Array.from(shard!.time)).toEqual(
      [
        '2024-01-07 08:00:00',
        '2024-01-12 08:00:00',
        '2024-01-05 09:00:00',
        '2024-01-06 12:00:00',
        '2024-01-01 10:00:00',
        '2024-01-02 10:00:00',
        '2024-01-03 10:00:00',
        '2024-01-15 10:00:00',
        '2024-01-25 10:00:00',
      ].map(utc),
    );
    const [train, validation, test] = [SPLIT_TRAIN, SPLIT_VALIDATION, SPLIT_TEST];
    expect(Array.from(shard!.split)).toEqual([train, validation, train, train, train, train, train, validation, test]);
  });

  it('maps values first seen after the cut-off to OOV', async () => {
    const { outDir } = await ingest(basicConfig());
    const [shard] = await readShards(outDir);
    const values = (name: string) => Array.from((shard!.features[name] as { values: Int32Array }).values);

    // acme 2, <missing> 3, and zeta / late (validation and test only) 1.
    expect(values('brand')).toEqual([2, 1, 3, 2, 2, 2, 2, 1, 1]);
    // electronics 2, <missing> 3, appliances (after the cut-off) 1.
    expect(values('product_line')).toEqual([2, 2, 2, 3, 2, 2, 2, 1, 1]);
    // <missing> 2, electronics.smartphone.case 3; headphone and kettle are OOV.
    expect(values('subcategory')).toEqual([3, 1, 2, 2, 3, 2, 3, 1, 1]);
    expect(values('event_type')).toEqual([2, 2, 2, 3, 2, 2, 4, 2, 2]);
    // p3, p4 and p6 occur only after the cut-off.
    expect(values('item')).toEqual([2, 1, 3, 4, 2, 3, 2, 1, 1]);
  });

  it('truncates to the most recent events', async () => {
    const { outDir, manifest } = await ingest(basicConfig({ maxLength: 3 }));
    const [shard] = await readShards(outDir);

    // c1 has 5 events; its 2 oldest go.
    expect(manifest.truncatedEvents).toBe(2);
    expect(manifest.events).toBe(7);
    expect(shard!.customerIds).toEqual(['10', '9', 'c1']);
    expect(Array.from(shard!.customerOffsets)).toEqual([0, 2, 4, 7]);
    expect(Array.from(shard!.time.subarray(4))).toEqual(['2024-01-03 10:00:00', '2024-01-15 10:00:00', '2024-01-25 10:00:00'].map(utc));
    // The vocabulary only counts kept training events: p1 twice, p2 once, p5 once.
    expect(await readVocabularyFile(outDir, 'item')).toEqual(['<pad>', '<oov>', 'p1', 'p2', 'p5']);
  });

  it('labels leave-last-out splits per customer', async () => {
    const { outDir, manifest } = await ingest(basicConfig({ split: { kind: 'leave-last-out' } }));
    const [shard] = await readShards(outDir);

    expect(Array.from(shard!.split)).toEqual([1, 2, 1, 2, 0, 0, 0, 1, 2]);
    expect(manifest.splitEvents).toEqual({ train: 3, validation: 3, test: 3 });
    expect(manifest.split).toEqual({ kind: 'leave-last-out', trainEnd: null, validationEnd: null, trainEndIso: null, validationEndIso: null });
  });

  it('places fraction cut-offs in the time range', async () => {
    const { manifest } = await ingest(basicConfig({ split: { kind: 'fraction', train: 0.5, validation: 0.25 } }));
    const first = utc('2024-01-01 10:00:00');
    const last = utc('2024-01-25 10:00:00');

    expect(manifest.split.trainEnd).toBe(first + 0.5 * (last - first));
    expect(manifest.split.validationEnd).toBe(first + 0.75 * (last - first));
    // Cut-offs 2024-01-13 10:00 and 2024-01-19 10:00, so customer 10's event of 2024-01-12 is training now.
    expect(manifest.splitEvents).toEqual({ train: 7, validation: 1, test: 1 });
  });

  it('spreads customers over shards by id', async () => {
    const { outDir, manifest } = await ingest(basicConfig({ shards: 4 }));
    const shards = await readShards(outDir);

    expect(manifest.shards.map((shard) => shard.file)).toEqual([0, 1, 2, 3].map((i) => `shards/shard-0000${i}.bin`));
    expect(shards.flatMap((shard) => shard.customerIds).sort()).toEqual(['10', '9', 'c1']);
    expect(manifest.shards.reduce((sum, shard) => sum + shard.events, 0)).toBe(9);
    for (const shard of shards) expect([...shard.customerIds].sort()).toEqual(shard.customerIds);
  });
});
