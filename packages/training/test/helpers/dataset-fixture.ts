import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeShard, MANIFEST_FORMAT_VERSION, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION, type Manifest, type ShardData } from '@mcm/schema';
import { indexTrainingData, type TrainingData } from '../../src/data/training-data.ts';

/** One event of a fixture customer: its split and the vocabulary id of each feature. */
export interface FixtureEvent {
  split: typeof SPLIT_TRAIN | typeof SPLIT_VALIDATION | typeof SPLIT_TEST;
  values: Record<string, number>;
}

export interface FixtureCustomer {
  id: string;
  events: FixtureEvent[];
}

/** Builds a shard of single-valued features; event times are 1000 * position. */
export function buildShard(customers: readonly FixtureCustomer[], features: readonly string[]): ShardData {
  const offsets = new Int32Array(customers.length + 1);
  customers.forEach((customer, c) => (offsets[c + 1] = offsets[c]! + customer.events.length));
  const events = offsets[customers.length]!;

  const time = new Float64Array(events);
  const split = new Uint8Array(events);
  const columns = Object.fromEntries(features.map((name) => [name, new Int32Array(events)]));
  let e = 0;
  for (const customer of customers) {
    customer.events.forEach((event, position) => {
      time[e] = 1000 * position;
      split[e] = event.split;
      for (const name of features) {
        const value = event.values[name];
        if (value === undefined) throw new Error(`fixture event of ${customer.id} has no value for ${name}`);
        columns[name]![e] = value;
      }
      e++;
    });
  }

  return {
    customerIds: customers.map((customer) => customer.id),
    customerOffsets: offsets,
    time,
    split,
    features: Object.fromEntries(features.map((name) => [name, { kind: 'single' as const, values: columns[name]! }])),
  };
}

/** Builds a manifest that matches `shards`, with every feature a task. */
export function buildManifest(dataset: string, vocabularies: Record<string, number>, shards: readonly ShardData[], fingerprint = 'fixture'): Manifest {
  const events = shards.reduce((sum, shard) => sum + shard.time.length, 0);
  const count = (code: number) => shards.reduce((sum, shard) => sum + shard.split.filter((s) => s === code).length, 0);
  return {
    formatVersion: MANIFEST_FORMAT_VERSION,
    dataset,
    customers: shards.reduce((sum, shard) => sum + shard.customerIds.length, 0),
    events,
    rowsRead: events,
    rejectedRows: 0,
    rejectsByReason: {},
    duplicateRows: 0,
    truncatedEvents: 0,
    features: Object.entries(vocabularies).map(([name, vocabularySize]) => ({ name, kind: 'single' as const, vocabularySize, task: true })),
    vocabularies,
    tasks: Object.keys(vocabularies),
    itemFeature: null,
    split: { kind: 'time', trainEnd: 0, validationEnd: 0, trainEndIso: null, validationEndIso: null },
    splitEvents: { train: count(SPLIT_TRAIN), validation: count(SPLIT_VALIDATION), test: count(SPLIT_TEST) },
    maxLength: 200,
    shards: shards.map((shard, i) => ({ file: `shards/shard-${i}.bin`, customers: shard.customerIds.length, events: shard.time.length })),
    fingerprint,
    rejectFile: null,
  };
}

/** Writes `manifest` and `shards` as an ingest output directory. */
export async function writeDataset(dir: string, manifest: Manifest, shards: readonly ShardData[]): Promise<void> {
  await mkdir(join(dir, 'shards'), { recursive: true });
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (let i = 0; i < shards.length; i++) await writeFile(join(dir, manifest.shards[i]!.file), encodeShard(shards[i]!));
}

/** In-memory TrainingData of `customers`, split into `shardCount` shards round-robin. */
export function fixtureData(customers: readonly FixtureCustomer[], vocabularies: Record<string, number>, shardCount = 1, fingerprint = 'fixture'): TrainingData {
  const groups: FixtureCustomer[][] = Array.from({ length: shardCount }, () => []);
  customers.forEach((customer, i) => groups[i % shardCount]!.push(customer));
  const features = Object.keys(vocabularies);
  const shards = groups.map((group) => buildShard(group, features));
  return indexTrainingData('fixture', buildManifest('fixture', vocabularies, shards, fingerprint), shards);
}

/**
 * Builds customers with a planted pattern: category c is followed by next(c) = (3c + 1) mod n (shifted
 * past ids 0 and 1), with `noise` probability of a random category instead. Brand is a
 * fixed function of category. Each customer starts at a random category, and a minority
 * of the categories are far more frequent as starting points, so popularity is a real
 * but beatable baseline. The last events of each customer are validation, then test.
 */
export function plantedPatternCustomers(count: number, seed: number, options: { categories?: number; brands?: number; noise?: number; minEvents?: number; maxEvents?: number } = {}): FixtureCustomer[] {
  const categories = options.categories ?? 20;
  const brands = options.brands ?? 7;
  const noise = options.noise ?? 0.1;
  const minEvents = options.minEvents ?? 6;
  const maxEvents = options.maxEvents ?? 14;
  let state = seed >>> 0;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };

  const customers: FixtureCustomer[] = [];
  for (let c = 0; c < count; c++) {
    const length = minEvents + Math.floor(random() * (maxEvents - minEvents + 1));
    let category = random() < 0.5 ? Math.floor(random() * 3) : Math.floor(random() * categories);
    const events: FixtureEvent[] = [];
    for (let i = 0; i < length; i++) {
      let split: FixtureEvent['split'] = SPLIT_TRAIN;
      if (i === length - 2) split = SPLIT_VALIDATION;
      if (i === length - 1) split = SPLIT_TEST;
      events.push({ split, values: { category: 2 + category, brand: 2 + (category % brands) } });
      category = random() < noise ? Math.floor(random() * categories) : (3 * category + 1) % categories;
    }
    customers.push({ id: `c${String(c).padStart(5, '0')}`, events });
  }
  return customers;
}

export const PLANTED_VOCABULARIES = { category: 22, brand: 9 };
