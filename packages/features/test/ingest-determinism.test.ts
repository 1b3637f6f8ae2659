import { describe, expect, it } from 'vitest';
import { basicConfig, hashDirectory, ingest, readShards, readVocabularyFile } from './helpers.ts';

/** Returns a config over a file of fixtures/ties: one customer, i1..i8 in the same second, then i9. */
function tiesConfig(file: string): Record<string, unknown> {
  return {
    name: 'ties',
    events: {
      path: `ties/${file}`,
      customer: 'user_id',
      item: 'product_id',
      time: { column: 'event_time', format: 'iso' },
      eventType: { column: 'event_type' },
    },
    features: [{ name: 'item', from: 'item' }],
    // Every event is in the training period, so every item has an id.
    split: { kind: 'time', trainEnd: '2024-04-01', validationEnd: '2024-05-01' },
    shards: 1,
  };
}

async function itemSequence(outDir: string): Promise<string[]> {
  const vocabulary = await readVocabularyFile(outDir, 'item');
  const [shard] = await readShards(outDir);
  const ids = (shard!.features.item as { values: Int32Array }).values;
  return Array.from(ids, (id) => vocabulary[id]!);
}

describe('ingest determinism', () => {
  it('breaks time ties by row content, not file order', async () => {
    const forward = await ingest(tiesConfig('events.csv'));
    const reversed = await ingest(tiesConfig('events-reversed.csv'));

    const forwardHashes = await hashDirectory(forward.outDir);
    const reversedHashes = await hashDirectory(reversed.outDir);
    expect(reversedHashes['shards/shard-00000.bin']).toBe(forwardHashes['shards/shard-00000.bin']);
    expect(reversedHashes['vocab/item.json']).toBe(forwardHashes['vocab/item.json']);
    expect(await itemSequence(reversed.outDir)).toEqual(await itemSequence(forward.outDir));
  });

  it('drops rows repeated in another file', async () => {
    const { manifest } = await ingest(tiesConfig('events*.csv'));

    expect(manifest.rowsRead).toBe(18);
    expect(manifest.duplicateRows).toBe(9);
    expect(manifest.events).toBe(9);
  });

  it('orders tied events neither by item id nor by file order', async () => {
    const { outDir } = await ingest(tiesConfig('events.csv'));
    const items = await itemSequence(outDir);
    const tied = items.slice(0, 8);

    expect(items[8]).toBe('i9');
    expect([...tied].sort()).toEqual(['i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8']);
    expect(tied).not.toEqual(['i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8']);
    expect(tied).not.toEqual(['i8', 'i7', 'i6', 'i5', 'i4', 'i3', 'i2', 'i1']);
  });

  it('writes byte-identical output on re-runs', async () => {
    const first = await ingest(basicConfig());
    const second = await ingest(basicConfig());
    const oneThread = await ingest(basicConfig(), { threads: 1 });

    const hashes = await hashDirectory(first.outDir);
    expect(Object.keys(hashes)).toEqual([
      'manifest.json',
      'shards/shard-00000.bin',
      'vocab/brand.json',
      'vocab/category.json',
      'vocab/event_type.json',
      'vocab/item.json',
      'vocab/product_line.json',
      'vocab/subcategory.json',
    ]);
    expect(await hashDirectory(second.outDir)).toEqual(hashes);
    expect(await hashDirectory(oneThread.outDir)).toEqual(hashes);
  });

  it('replaces its own earlier output in place', async () => {
    const first = await ingest(basicConfig({ shards: 3 }));
    await ingest(basicConfig({ shards: 2 }), { outDir: first.outDir });
    const fresh = await ingest(basicConfig({ shards: 2 }));

    expect(await hashDirectory(first.outDir)).toEqual(await hashDirectory(fresh.outDir));
  });

  it('writes identical reject files on re-runs', async () => {
    const config = basicConfig({ maxRejectFraction: 0.7 }, 'bad/wrong-field-count.csv');
    const first = await ingest(config);
    const second = await ingest(config);

    const hashes = await hashDirectory(first.outDir);
    expect(hashes['rejects.csv']).toBeDefined();
    expect(await hashDirectory(second.outDir)).toEqual(hashes);
  });

  it('changes the fingerprint with the config', async () => {
    const first = await ingest(basicConfig());
    const other = await ingest(basicConfig({ maxLength: 299 }));

    expect(first.manifest.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(other.manifest.fingerprint).not.toBe(first.manifest.fingerprint);
  });
});
