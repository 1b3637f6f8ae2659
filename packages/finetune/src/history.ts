import { readVocabulary, type ShardData } from '@mcm/schema';
import type { CustomerRecord, TrainingData } from '@mcm/training';

/** The event types of the synthetic generator that the offer actions and their responses refer to. */
export const EVENT_TYPE_NAMES = ['view', 'cart', 'purchase', 'wishlist', 'camera_search', 'sign_up'] as const;
export type EventTypeName = (typeof EVENT_TYPE_NAMES)[number];

/** The features every offer history needs; the ingest of datasets/synth.json writes them all. */
export const REQUIRED_FEATURES = ['product_line', 'category', 'subcategory', 'event_type'] as const;

/** Vocabulary ids of the event types, -1 for a type the data never had in training. */
export type EventTypeIds = Record<EventTypeName, number>;

/**
 * A window of one customer's ingested events: the first `length` events from
 * `record.start`, in time order. `item` is null when the dataset has no item feature.
 */
export interface History {
  shard: ShardData;
  record: CustomerRecord;
  length: number;
  productLine: Int32Array;
  category: Int32Array;
  subcategory: Int32Array;
  eventType: Int32Array;
  item: Int32Array | null;
}

/** Returns the first `length` events of `record` as plain arrays of vocabulary ids. */
export function historyOf(data: TrainingData, record: CustomerRecord, length: number): History {
  const shard = data.shards[record.shard]!;
  const from = record.start;
  const to = record.start + length;
  const column = (name: string): Int32Array => {
    const feature = shard.features[name];
    if (feature === undefined || feature.kind !== 'single') throw new Error(`feature "${name}" must be a single-valued feature of the ingested data`);
    return feature.values.subarray(from, to);
  };
  return {
    shard,
    record,
    length,
    productLine: column('product_line'),
    category: column('category'),
    subcategory: column('subcategory'),
    eventType: column('event_type'),
    item: shard.features.item === undefined ? null : column('item'),
  };
}

/** Reads the event type vocabulary and checks that the data has the features offers need. */
export async function readEventTypeIds(data: TrainingData): Promise<EventTypeIds> {
  const names = data.manifest.features.map((feature) => feature.name);
  for (const name of REQUIRED_FEATURES) {
    if (!names.includes(name)) {
      throw new Error(`${data.dir} has no feature "${name}" (features: ${names.join(', ')}); offers need an ingest of datasets/synth.json`);
    }
  }
  const values = await readVocabulary(data.dir, 'event_type');
  const ids = {} as EventTypeIds;
  for (const name of EVENT_TYPE_NAMES) ids[name] = values.indexOf(name);
  if (ids.view < 0 || ids.purchase < 0) {
    throw new Error(`${data.dir} has no "view" or "purchase" event type; offers need an ingest of the synthetic generator's logs`);
  }
  return ids;
}
