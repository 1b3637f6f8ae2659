import type { ShardData } from '@mcm/schema';
import type { ExampleRef, SampledBatch, TrainingData } from '@mcm/training';
import type { ExamplePosition } from './payloads.ts';
export { labelCounts } from '@mcm/training';

/** One shard of a step's batch: the examples one worker computes gradients on. */
export interface BatchShard {
  shard: number;
  examples: ExamplePosition[];
}

/**
 * Cuts the batch into `shardCount` shards, example i going to shard i mod shardCount.
 * The sampler sorts a length-bucketed batch by history length, so dealing the examples
 * out in turn gives every shard a similar mix of lengths and so a similar cost.
 */
export function planShards(sampled: SampledBatch, data: TrainingData, shardCount: number): BatchShard[] {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new Error(`shard count must be a positive integer, got ${shardCount}`);
  const count = Math.min(shardCount, sampled.examples.length);
  const shardIndex = new Map<ShardData, number>(data.shards.map((shard, i) => [shard, i]));
  const shards: BatchShard[] = Array.from({ length: count }, (_, shard) => ({ shard, examples: [] }));

  sampled.examples.forEach((ref, i) => {
    const index = shardIndex.get(ref.shard);
    if (index === undefined) throw new Error(`example ${i} of the batch comes from a shard that is not part of ${data.dir}`);
    shards[i % count]!.examples.push([index, ref.customer, ref.start, ref.end]);
  });
  return shards;
}

/** Turns example positions back into references into `data`, checking each against the data's bounds. */
export function resolveExamples(data: TrainingData, positions: readonly ExamplePosition[]): ExampleRef[] {
  return positions.map(([shardIndex, customer, start, end], i) => {
    const shard = data.shards[shardIndex];
    if (shard === undefined) throw new Error(`example ${i} names shard ${shardIndex}, but ${data.dir} has ${data.shards.length} shards`);
    const from = shard.customerOffsets[customer];
    const to = shard.customerOffsets[customer + 1];
    if (from === undefined || to === undefined || start < from || end >= to || start >= end) {
      throw new Error(`example ${i} (shard ${shardIndex}, customer ${customer}, events ${start}..${end}) is outside the data in ${data.dir}`);
    }
    return { shard, customer, start, end };
  });
}

/**
 * Splits `items` into `parts` runs of nearly equal length (the first ones one longer),
 * leaving out empty runs.
 */
export function splitEvenly<T>(items: readonly T[], parts: number): T[][] {
  const runs: T[][] = [];
  const base = Math.floor(items.length / parts);
  const extra = items.length % parts;
  let from = 0;
  for (let part = 0; part < parts; part++) {
    const length = base + (part < extra ? 1 : 0);
    if (length > 0) runs.push(items.slice(from, from + length));
    from += length;
  }
  return runs;
}
