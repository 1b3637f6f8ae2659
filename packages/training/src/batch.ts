import type { SequenceBatch, TaskLabels } from '@mcm/model';
import { PAD_ID, type FeatureColumn, type ShardData } from '@mcm/schema';

/**
 * One example: the events of `customer` in `shard` from `start` (inclusive) to `end`
 * (exclusive) are the history, and event `end` (when it exists) carries the labels.
 * Indices are event indices inside the shard, not positions inside the customer.
 */
export interface ExampleRef {
  shard: ShardData;
  customer: number;
  start: number;
  end: number;
}

/** Width of a multi-valued feature in a batch: the largest value list it holds, at least 1. */
function multiWidth(shard: ShardData, name: string, refs: readonly ExampleRef[]): number {
  let width = 1;
  for (const ref of refs) {
    const column = ref.shard.features[name];
    if (column === undefined || column.kind !== 'multi') continue;
    for (let e = ref.start; e < ref.end; e++) width = Math.max(width, column.offsets[e + 1]! - column.offsets[e]!);
  }
  return width;
}

/**
 * Builds the model input for `refs`, padded to the longest history in the batch
 * (or to `padTo` when given, which must be at least that long).
 */
export function buildBatch(refs: readonly ExampleRef[], featureNames: readonly string[], padTo?: number): SequenceBatch {
  const batchSize = refs.length;
  if (batchSize === 0) throw new Error('buildBatch needs at least one example');

  const lengths = new Int32Array(batchSize);
  let longest = 0;
  refs.forEach((ref, b) => {
    const n = ref.end - ref.start;
    if (n < 1) throw new Error(`example ${b} has an empty history (events ${ref.start}..${ref.end}); every example needs at least one event`);
    lengths[b] = n;
    longest = Math.max(longest, n);
  });
  const length = padTo ?? longest;
  if (length < longest) throw new Error(`padTo ${length} is shorter than the longest history in the batch (${longest})`);

  const features: SequenceBatch['features'] = {};
  for (const name of featureNames) {
    const first = refs[0]!.shard.features[name];
    if (first === undefined) throw new Error(`feature "${name}" is not in the shard; check the manifest's features`);

    if (first.kind === 'single') {
      const ids = new Int32Array(batchSize * length);
      refs.forEach((ref, b) => {
        const column = ref.shard.features[name] as { values: Int32Array };
        ids.set(column.values.subarray(ref.start, ref.end), b * length);
      });
      features[name] = { ids, width: 1 };
      continue;
    }

    const width = multiWidth(refs[0]!.shard, name, refs);
    const ids = new Int32Array(batchSize * length * width);
    refs.forEach((ref, b) => {
      const column = ref.shard.features[name] as { offsets: Int32Array; values: Int32Array };
      for (let e = ref.start; e < ref.end; e++) {
        const from = column.offsets[e]!;
        const to = column.offsets[e + 1]!;
        ids.set(column.values.subarray(from, to), (b * length + (e - ref.start)) * width);
      }
    });
    features[name] = { ids, width };
  }

  return { batchSize, length, lengths, features };
}

/**
 * Returns the label value of `column` at `event`: the value of a single-valued feature, the
 * first value of a multi-valued one, or PAD_ID (0, ignored by the loss) when a
 * multi-valued event has no value.
 */
export function labelValue(column: FeatureColumn, event: number): number {
  if (column.kind === 'single') return column.values[event]!;
  const from = column.offsets[event]!;
  return from < column.offsets[event + 1]! ? column.values[from]! : PAD_ID;
}

/**
 * Returns the labels of `refs`: the value of each task's feature at event `end`. A
 * multi-valued task feature takes its first value.
 */
export function buildLabels(refs: readonly ExampleRef[], tasks: readonly string[]): TaskLabels {
  const labels: TaskLabels = {};
  for (const task of tasks) {
    const out = new Int32Array(refs.length);
    refs.forEach((ref, b) => {
      const column = ref.shard.features[task];
      if (column === undefined) throw new Error(`task "${task}" has no feature column in the shard`);
      const customerEnd = ref.shard.customerOffsets[ref.customer + 1]!;
      if (ref.end >= customerEnd) throw new Error(`example ${b} has no next event to label (end ${ref.end} = customer end)`);
      out[b] = labelValue(column, ref.end);
    });
    labels[task] = out;
  }
  return labels;
}

/**
 * Returns per-position labels, [B * T] per task with T = `length`: position t of example b
 * gets each task's value at the event index `labelEvent(b, t)` returns, and 0 (no label)
 * where it returns -1. Causal and Cloze training label positions this way.
 */
export function buildPositionLabels(
  refs: readonly ExampleRef[],
  tasks: readonly string[],
  length: number,
  labelEvent: (example: number, position: number) => number,
): TaskLabels {
  const labels: TaskLabels = {};
  for (const task of tasks) {
    const out = new Int32Array(refs.length * length);
    refs.forEach((ref, b) => {
      const column = ref.shard.features[task];
      if (column === undefined) throw new Error(`task "${task}" has no feature column in the shard`);
      for (let t = 0; t < length; t++) {
        const event = labelEvent(b, t);
        if (event >= 0) out[b * length + t] = labelValue(column, event);
      }
    });
    labels[task] = out;
  }
  return labels;
}
