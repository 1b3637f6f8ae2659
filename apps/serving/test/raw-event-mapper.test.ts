import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatasetConfig, OOV_ID, readVocabulary, type DatasetConfig } from '@mcm/schema';
import { loadTrainingData, type TrainingData } from '@mcm/training';
import { RawEventMapper } from '../src/raw-event-mapper.ts';
import { buildTinyRun, readRawEvents, silentLogger, SYNTH_CONFIG, type RawEventRow, type TinyRun } from './helpers/tiny-run.ts';

let run: TinyRun;
let data: TrainingData;
let config: DatasetConfig;
let mapper: RawEventMapper;
let rawEvents: Map<string, RawEventRow[]>;
const featureNames = () => data.manifest.features.map((feature) => feature.name);

beforeAll(async () => {
  run = await buildTinyRun();
  data = await loadTrainingData(run.dataDir);
  config = await loadDatasetConfig(SYNTH_CONFIG);
  mapper = await RawEventMapper.open({ config, configSource: SYNTH_CONFIG, dataRoot: run.rawDir, dataDir: run.dataDir, manifest: data.manifest, logger: silentLogger() });
  rawEvents = await readRawEvents(run.rawDir);
});

afterAll(async () => {
  await mapper?.close();
  if (run !== undefined) await rm(run.root, { recursive: true, force: true });
});

/** Formats each event's ids as "f1=id,f2=id,..." and sorts them, so events of the same second compare in any order. */
function eventKeys(features: Record<string, { ids: Int32Array }>, names: readonly string[], count: number, offset = 0): string[] {
  const keys: string[] = [];
  for (let e = 0; e < count; e++) keys.push(names.map((name) => `${name}=${features[name]!.ids[offset + e]}`).join(','));
  return keys.sort();
}

describe('raw event mapper', () => {
  it('lists the fields of the dataset config', () => {
    expect(mapper.fields.map((field) => [field.name, field.role, field.required])).toEqual([
      ['item_id', 'item', true],
      ['event_type', 'eventType', true],
      ['timestamp', 'time', false],
    ]);
    expect(mapper.fields[1]!.allowed).toEqual(['view', 'cart', 'purchase', 'wishlist', 'camera_search', 'sign_up']);
  });

  it('gives the ingested ids for every customer', async () => {
    const names = featureNames();
    let compared = 0;
    for (const record of data.customers) {
      const rows = rawEvents.get(record.id)!;
      // Exact duplicate rows were dropped by the ingest; compare customers that had none.
      if (rows.length !== record.end - record.start) continue;
      const mapped = await mapper.map(
        rows.map((row) => ({ item_id: row.item_id, event_type: row.event_type, timestamp: row.timestamp })),
        names,
      );
      const shard = data.shards[record.shard]!;
      const ingested: Record<string, { ids: Int32Array }> = {};
      for (const name of names) ingested[name] = { ids: (shard.features[name] as { values: Int32Array }).values };
      expect(eventKeys(mapped.features, names, rows.length)).toEqual(eventKeys(ingested, names, record.end - record.start, record.start));
      compared++;
    }
    expect(compared).toBeGreaterThan(data.customers.length / 2);
  });

  it('maps unknown values to out-of-vocabulary', async () => {
    const mapped = await mapper.map([{ item_id: 'no-such-item', event_type: 'view' }], featureNames());
    expect(mapped.features.item!.ids[0]).toBe(OOV_ID);

    // Catalog features of an item missing from the catalog get the missing value, as in the ingest.
    const categories = await readVocabulary(run.dataDir, 'category');
    const category = mapped.features.category!.ids[0]!;
    expect(category === OOV_ID || categories[category] === '<missing>').toBe(true);
    expect(mapped.features.event_type!.ids[0]).toBeGreaterThan(OOV_ID);
  });

  it('reads numbers as their text', async () => {
    const row = rawEvents.values().next().value![0]!;
    const byText = await mapper.map([{ item_id: row.item_id, event_type: row.event_type }], featureNames());
    const byNumber = await mapper.map([{ item_id: row.item_id, event_type: row.event_type, timestamp: Number(row.timestamp) }], featureNames());
    expect(byNumber).toEqual(byText);
  });

  it('keeps order and answers from its cache', async () => {
    const rows = [...rawEvents.values()][3]!.slice(0, 6);
    const events = rows.map((row) => ({ item_id: row.item_id, event_type: row.event_type }));
    const first = await mapper.map(events, ['item']);
    const reversed = await mapper.map([...events].reverse(), ['item']);
    expect(Array.from(reversed.features.item!.ids)).toEqual(Array.from(first.features.item!.ids).reverse());
  });

  it('rejects a config of another dataset', async () => {
    await expect(
      RawEventMapper.open({ config: { ...config, name: 'other' }, configSource: 'other.json', dataRoot: run.rawDir, dataDir: run.dataDir, manifest: data.manifest, logger: silentLogger() }),
    ).rejects.toThrow(/other\.json describes dataset "other", but the run was trained on "synth"/);
  });

  it('needs the data root for catalog features', async () => {
    await expect(
      RawEventMapper.open({ config, configSource: SYNTH_CONFIG, dataRoot: null, dataDir: run.dataDir, manifest: data.manifest, logger: silentLogger() }),
    ).rejects.toThrow(/read the catalog, so raw events need it: pass --data-root/);
  });
});
