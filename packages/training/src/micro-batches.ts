import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import type { LabelLayout, SequenceBatch, TaskLabels } from '@mcm/model';
import { buildBatch, buildLabels, type ExampleRef } from './batch.ts';
import type { SampledBatch } from './samplers/batch-sampler.ts';
import type { TaskWeights } from './task-loss.ts';
import type { TrainableModel } from './trainable-model.ts';
import { computeGradients, disposeGradients, type BatchGradients } from './train-step.ts';

/** Number of labelled examples (label not 0) of each task in `labels`. */
export function labelCounts(labels: Readonly<Record<string, Int32Array>>, tasks: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const task of tasks) {
    const values = labels[task];
    if (values === undefined) throw new Error(`the batch has no labels for task "${task}"`);
    let count = 0;
    for (const label of values) if (label !== 0) count++;
    counts[task] = count;
  }
  return counts;
}

/**
 * Cuts `examples`, in order, into runs whose rows x length^2 stays within `maxCells`
 * (length = the longest history of the run). Self-attention keeps rows x heads x length^2
 * scores per block, so this bounds the largest tensors of a training step. A single
 * example longer than the limit forms a run of its own.
 */
export function planMicroBatches(examples: readonly ExampleRef[], maxCells: number): ExampleRef[][] {
  const runs: ExampleRef[][] = [];
  let current: ExampleRef[] = [];
  let longest = 0;
  for (const example of examples) {
    const length = example.end - example.start;
    const nextLongest = Math.max(longest, length);
    if (current.length > 0 && (current.length + 1) * nextLongest * nextLongest > maxCells) {
      runs.push(current);
      current = [];
      longest = 0;
    }
    current.push(example);
    longest = Math.max(longest, length);
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

/** One micro-batch: its model input and its labels, laid out as the whole batch's. */
export interface MicroBatch {
  batch: SequenceBatch;
  labels: TaskLabels;
}

/**
 * Builds the micro-batches of `sampled` for `runs`, the consecutive groups of its examples
 * that planMicroBatches returned. Next-event labels are rebuilt from the examples.
 * Per-position labels (Cloze, causal) cannot be rebuilt, because they depend on the
 * sampler's masks, so the rows of the sampled batch and its labels are cut out instead,
 * each run padded to its own longest history.
 */
export function microBatches(sampled: SampledBatch, runs: readonly ExampleRef[][], tasks: readonly string[]): MicroBatch[] {
  const featureNames = Object.keys(sampled.batch.features);
  if ((sampled.labelLayout ?? 'next') === 'next') {
    return runs.map((run) => ({ batch: buildBatch(run, featureNames), labels: buildLabels(run, tasks) }));
  }

  const parts: MicroBatch[] = [];
  let first = 0;
  for (const run of runs) {
    parts.push(sliceRows(sampled, first, run.length, tasks));
    first += run.length;
  }
  return parts;
}

/** Cuts rows first .. first + count - 1 out of a batch with per-position labels. */
function sliceRows(sampled: SampledBatch, first: number, count: number, tasks: readonly string[]): MicroBatch {
  const { batch } = sampled;
  const lengths = batch.lengths.slice(first, first + count);
  let length = 1;
  for (const n of lengths) length = Math.max(length, n);

  const features: SequenceBatch['features'] = {};
  for (const [name, { ids, width }] of Object.entries(batch.features)) {
    const out = new Int32Array(count * length * width); // [rows, length, width]
    for (let r = 0; r < count; r++) {
      const from = (first + r) * batch.length * width;
      out.set(ids.subarray(from, from + length * width), r * length * width);
    }
    features[name] = { ids: out, width };
  }

  const labels: TaskLabels = {};
  for (const task of tasks) {
    const all = sampled.labels[task];
    if (all === undefined) throw new Error(`the batch has no labels for task "${task}"`);
    const out = new Int32Array(count * length); // [rows, length]
    for (let r = 0; r < count; r++) {
      const from = (first + r) * batch.length;
      out.set(all.subarray(from, from + length), r * length);
    }
    labels[task] = out;
  }

  return { batch: { batchSize: count, length, lengths, features }, labels };
}

/**
 * Computes the gradients of a batch as the sum over its micro-batches. Each task's loss is
 * weighted by the micro-batch's share of the batch's labels (labels that are not 0), so
 * the sum equals the whole batch's mean loss and its gradient. Every micro-batch
 * starts from the generator state the whole batch would start from (dropout seeds and
 * sampled negatives do not depend on the batch size), and `random` ends where one
 * whole-batch pass leaves it.
 */
export function computeMicroBatchGradients(
  model: TrainableModel,
  parts: readonly MicroBatch[],
  labelLayout: LabelLayout,
  taskWeights: TaskWeights,
  random: Random,
): BatchGradients {
  const tasks = Object.keys(taskWeights);
  const counts = parts.map((part) => labelCounts(part.labels, tasks));
  const totals: Record<string, number> = Object.fromEntries(tasks.map((task) => [task, counts.reduce((sum, count) => sum + count[task]!, 0)]));
  const startState = random.getState();

  const sums = new Map<string, tf.Tensor>();
  const taskLosses: Record<string, number> = Object.fromEntries(tasks.map((task) => [task, 0]));
  let loss = 0;
  try {
    parts.forEach((part, index) => {
      const shares: Record<string, number> = {};
      const weights: TaskWeights = {};
      for (const task of tasks) {
        shares[task] = totals[task] === 0 ? 0 : counts[index]![task]! / totals[task]!;
        weights[task] = taskWeights[task]! * shares[task]!;
      }

      const generator = index === 0 ? random : new Random(startState);
      const computed = computeGradients(model, { ...part, labelLayout }, { taskWeights: weights, random: generator });
      for (const task of tasks) taskLosses[task]! += computed.taskLosses[task]! * shares[task]!;
      loss += computed.loss;

      for (const [name, gradient] of computed.gradients) {
        const previous = sums.get(name);
        if (previous === undefined) {
          sums.set(name, gradient);
          continue;
        }
        sums.set(name, tf.add(previous, gradient));
        previous.dispose();
        gradient.dispose();
      }
    });
  } catch (error) {
    disposeGradients(sums);
    throw error;
  }

  return { taskLosses, loss, gradients: sums };
}
