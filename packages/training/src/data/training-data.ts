import { join } from 'node:path';
import { readManifest, readShard, SPLIT_TRAIN, type Manifest, type ShardData } from '@mcm/schema';

/**
 * One customer of the loaded data. Event indices are positions inside the shard's
 * event columns, so `[start, end)` are all of the customer's events in time order and
 * `[start, trainEnd)` the leading run of training events.
 */
export interface CustomerRecord {
  shard: number;
  /** Index of the customer inside its shard. */
  customer: number;
  id: string;
  start: number;
  /** End (exclusive) of the leading run of training-split events. */
  trainEnd: number;
  end: number;
}

/** Counts the loader reports, so that customers without a training example are visible. */
export interface TrainingDataStats {
  customers: number;
  events: number;
  trainingEvents: number;
  /** Customers with two or more leading training events: the ones that yield prefix examples. */
  customersWithExamples: number;
  /** Customers with exactly one training event: no prefix has a next training event to label. */
  singleTrainingEvent: number;
  /** Customers whose events all fall after the training cut-off. */
  noTrainingEvent: number;
  /**
   * Training-split events that follow a validation or test event of the same customer.
   * A time split never produces them; they are left out of training so that no prefix
   * can contain a later split's event.
   */
  trainingEventsAfterHeldOut: number;
}

/** A dataset written by the ingest, held in memory as typed arrays. */
export interface TrainingData {
  dir: string;
  manifest: Manifest;
  shards: ShardData[];
  customers: CustomerRecord[];
  /** Indices into `customers` of the customers with at least one training example. */
  trainable: Int32Array;
  stats: TrainingDataStats;
}

/** Reads the manifest and every shard of an ingest output directory. */
export async function loadTrainingData(dir: string): Promise<TrainingData> {
  const manifest = await readManifest(dir);
  const shards: ShardData[] = [];
  for (const entry of manifest.shards) {
    const path = join(dir, entry.file);
    const shard = await readShard(path);
    checkShardFeatures(shard, manifest, path);
    shards.push(shard);
  }
  return indexTrainingData(dir, manifest, shards);
}

/** Builds the customer table and the counts from shards already in memory. */
export function indexTrainingData(dir: string, manifest: Manifest, shards: ShardData[]): TrainingData {
  const customers: CustomerRecord[] = [];
  const trainable: number[] = [];
  const stats: TrainingDataStats = {
    customers: 0,
    events: 0,
    trainingEvents: 0,
    customersWithExamples: 0,
    singleTrainingEvent: 0,
    noTrainingEvent: 0,
    trainingEventsAfterHeldOut: 0,
  };

  shards.forEach((shard, shardIndex) => {
    for (let c = 0; c < shard.customerIds.length; c++) {
      const start = shard.customerOffsets[c]!;
      const end = shard.customerOffsets[c + 1]!;
      let trainEnd = start;
      while (trainEnd < end && shard.split[trainEnd] === SPLIT_TRAIN) trainEnd++;
      for (let e = trainEnd; e < end; e++) if (shard.split[e] === SPLIT_TRAIN) stats.trainingEventsAfterHeldOut++;

      const trainingEvents = trainEnd - start;
      stats.customers++;
      stats.events += end - start;
      stats.trainingEvents += trainingEvents;
      if (trainingEvents === 0) stats.noTrainingEvent++;
      else if (trainingEvents === 1) stats.singleTrainingEvent++;
      else {
        stats.customersWithExamples++;
        trainable.push(customers.length);
      }
      customers.push({ shard: shardIndex, customer: c, id: shard.customerIds[c]!, start, trainEnd, end });
    }
  });

  return { dir, manifest, shards, customers, trainable: Int32Array.from(trainable), stats };
}

function checkShardFeatures(shard: ShardData, manifest: Manifest, path: string): void {
  for (const feature of manifest.features) {
    const column = shard.features[feature.name];
    if (column === undefined) {
      throw new Error(`${path}: feature "${feature.name}" of the manifest has no column in the shard; re-run the ingest`);
    }
    if (column.kind !== feature.kind) {
      throw new Error(
        `${path}: feature "${feature.name}" is ${column.kind}-valued in the shard but ${feature.kind}-valued in the manifest; re-run the ingest`,
      );
    }
  }
}
