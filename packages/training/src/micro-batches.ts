import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { buildBatch, buildLabels, type ExampleRef } from './batch.ts';
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

/**
 * Computes the gradients of a batch as the sum over micro-batches, each task's loss
 * weighted by the micro-batch's share of the batch's labelled examples, so that the sum
 * equals the whole batch's mean loss and its gradient. Every micro-batch starts from the
 * generator state the whole batch would start from (dropout seeds and sampled negatives
 * do not depend on the batch size), and `random` ends where one whole-batch pass leaves it.
 */
export function computeMicroBatchGradients(
  model: TrainableModel,
  runs: readonly ExampleRef[][],
  featureNames: readonly string[],
  taskWeights: TaskWeights,
  random: Random,
): BatchGradients {
  const tasks = Object.keys(taskWeights);
  const all = runs.flat();
  const totals = labelCounts(buildLabels(all, tasks), tasks);
  const startState = random.getState();

  const sums = new Map<string, tf.Tensor>();
  const taskLosses: Record<string, number> = Object.fromEntries(tasks.map((task) => [task, 0]));
  let loss = 0;
  try {
    runs.forEach((run, index) => {
      const labels = buildLabels(run, tasks);
      const counts = labelCounts(labels, tasks);
      const shares: Record<string, number> = {};
      const weights: TaskWeights = {};
      for (const task of tasks) {
        shares[task] = totals[task] === 0 ? 0 : counts[task]! / totals[task]!;
        weights[task] = taskWeights[task]! * shares[task]!;
      }

      const generator = index === 0 ? random : new Random(startState);
      const computed = computeGradients(model, { batch: buildBatch(run, featureNames), labels }, { taskWeights: weights, random: generator });
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
