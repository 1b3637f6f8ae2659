import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '@mcm/common';
import type { LabelLayout, SequenceBatch, TaskLabels } from '@mcm/model';
import { TRAINING_DEFAULTS } from './defaults.ts';
import { computeMicroBatchGradients, microBatches, planMicroBatches } from './micro-batches.ts';
import type { AdamW } from './optimizer/adamw.ts';
import type { SampledBatch } from './samplers/batch-sampler.ts';
import type { TaskWeights } from './task-loss.ts';
import type { TrainableModel } from './trainable-model.ts';

/** Measurements of one optimizer step. */
export interface StepResult {
  /** Mean cross-entropy of each task on the batch, before the update. */
  taskLosses: Record<string, number>;
  /** Weighted sum of the task losses: the value minimised. */
  loss: number;
  /** Global L2 norm of the gradients before clipping. */
  gradientNorm: number;
  /** Whether the gradients were scaled down to the clipping norm. */
  clipped: boolean;
  /**
   * State of the dropout and candidate-sampling generator after the step. A distributed
   * step sets it because its workers draw from copies of the generator, and the trainer
   * continues from it. Undefined when the step advanced `options.random` itself.
   */
  randomState?: number[];
  /** Extra fields for the step's line in steps.jsonl (workers, bytes sent, ...). */
  record?: Record<string, unknown>;
}

/** A loss or gradient that is NaN or infinite; the weights were not updated. */
export class NonFiniteLossError extends Error {
  readonly step: number;
  readonly customerIds: string[];
  readonly taskLosses: Record<string, number>;

  constructor(step: number, customerIds: string[], taskLosses: Record<string, number>, gradientNorm: number) {
    const losses = Object.entries(taskLosses)
      .map(([task, loss]) => `${task}=${loss}`)
      .join(', ');
    super(
      `loss is not finite at step ${step} (task losses ${losses}, gradient norm ${gradientNorm}); ` +
        `the batch's customers: ${customerIds.join(', ')}. Lower --lr or check these customers' events`,
    );
    this.name = 'NonFiniteLossError';
    this.step = step;
    this.customerIds = customerIds;
    this.taskLosses = taskLosses;
  }
}

export interface StepOptions {
  taskWeights: TaskWeights;
  learningRate: number;
  /** Global gradient-norm limit; Infinity turns clipping off. */
  clipNorm: number;
  /** Source of dropout and candidate sampling; its state advances. */
  random: Random;
  /** 1-based number of this step, for the error message. */
  step: number;
  /** Largest rows x length^2 computed at once; a larger batch is cut into micro-batches. */
  maxBatchCells?: number;
}

/**
 * A function that runs one optimizer step on a sampled batch. `trainStep` runs it in
 * this process. A distributed run computes the gradients on workers and then applies
 * them with `applyGradients`, as `trainStep` does.
 */
export type StepFunction = (model: TrainableModel, optimizer: AdamW, sampled: SampledBatch, options: StepOptions) => StepResult | Promise<StepResult>;

/** The losses and gradients of one batch, before any update. */
export interface BatchGradients {
  /** Mean cross-entropy of each task on the batch. */
  taskLosses: Record<string, number>;
  /** Weighted sum of the task losses with the weights passed in. */
  loss: number;
  /**
   * Gradient of `loss` by variable name. A trainable variable that does not influence
   * the loss (a head of an untrained task) has no entry. The caller disposes the tensors.
   */
  gradients: Map<string, tf.Tensor>;
}

export interface GradientOptions {
  /** Task -> weight of its loss in the differentiated sum; the keys are the trained tasks. */
  taskWeights: TaskWeights;
  /** Source of dropout and candidate sampling; its state advances. */
  random: Random;
}

/**
 * Computes the task losses of `sampled` and the gradients of their weighted sum,
 * without changing any weight. Every tensor but the returned gradients is freed.
 */
export function computeGradients(
  model: TrainableModel,
  sampled: { batch: SequenceBatch; labels: TaskLabels; labelLayout?: LabelLayout },
  options: GradientOptions,
): BatchGradients {
  const tasks = Object.keys(options.taskWeights);
  const names: string[] = [];
  const variables: tf.Variable[] = [];
  for (const [name, variable] of model.variables) {
    if (!variable.trainable) continue;
    names.push(name);
    variables.push(variable);
  }

  let stackedLosses: tf.Tensor1D | undefined;
  const { total, grads } = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const losses = model.taskLosses(sampled.batch, sampled.labels, { training: true, random: options.random, labelLayout: sampled.labelLayout ?? 'next' });
      const perTask = tasks.map((task) => {
        const loss = losses[task];
        if (loss === undefined) throw new Error(`the model returned no loss for task "${task}"; its tasks: ${Object.keys(losses).join(', ')}`);
        return loss;
      });
      // Kept past the gradient scope so that each task's loss can be logged.
      stackedLosses = tf.keep(tf.stack(perTask) as tf.Tensor1D);
      return tf.addN(perTask.map((loss, t) => tf.mul(loss, options.taskWeights[tasks[t]!]!))) as tf.Scalar;
    }, variables);
    return { total: value, grads };
  });

  try {
    const perTask = stackedLosses!.dataSync();
    const gradients = new Map<string, tf.Tensor>();
    variables.forEach((variable, i) => {
      const gradient = grads[variable.name];
      if (gradient !== undefined) gradients.set(names[i]!, gradient);
    });
    return {
      taskLosses: Object.fromEntries(tasks.map((task, t) => [task, perTask[t]!])),
      loss: total.dataSync()[0]!,
      gradients,
    };
  } finally {
    stackedLosses?.dispose();
    total.dispose();
  }
}

export interface UpdateOptions {
  learningRate: number;
  /** Global gradient-norm limit; Infinity turns clipping off. */
  clipNorm: number;
  /** 1-based number of this step, for the error message. */
  step: number;
  /** The batch's customers, for the error message. */
  customerIds: string[];
}

/**
 * Clips `computed.gradients` to the global norm limit and applies one AdamW update.
 * Throws NonFiniteLossError, before touching the weights, when the loss or the
 * gradient norm is NaN or infinite. The gradients stay with the caller.
 */
export function applyGradients(optimizer: AdamW, computed: BatchGradients, options: UpdateOptions): { gradientNorm: number; clipped: boolean } {
  const gradientNorm = globalNorm(computed.gradients);
  if (!Number.isFinite(computed.loss) || !Number.isFinite(gradientNorm)) {
    throw new NonFiniteLossError(options.step, options.customerIds, computed.taskLosses, gradientNorm);
  }

  const clipped = gradientNorm > options.clipNorm;
  const scale = clipped ? options.clipNorm / gradientNorm : 1;
  optimizer.apply(computed.gradients, options.learningRate, scale);
  return { gradientNorm, clipped };
}

/** Global L2 norm of every gradient together. */
export function globalNorm(gradients: ReadonlyMap<string, tf.Tensor>): number {
  if (gradients.size === 0) return 0;
  const norm = tf.tidy(() => tf.sqrt(tf.addN([...gradients.values()].map((gradient) => tf.sum(tf.square(gradient))))));
  try {
    return norm.dataSync()[0]!;
  } finally {
    norm.dispose();
  }
}

/** Frees the tensors of a gradient map. */
export function disposeGradients(gradients: ReadonlyMap<string, tf.Tensor>): void {
  for (const gradient of gradients.values()) gradient.dispose();
}

/**
 * Runs one optimizer step on `sampled` in this process: `computeGradients`, then
 * `applyGradients`. Throws NonFiniteLossError, before touching the weights, when a
 * loss or the gradient norm is NaN or infinite.
 */
export function trainStep(model: TrainableModel, optimizer: AdamW, sampled: SampledBatch, options: StepOptions): StepResult {
  const maxCells = options.maxBatchCells ?? TRAINING_DEFAULTS.maxBatchCells;
  const runs = planMicroBatches(sampled.examples, maxCells);
  const layout = sampled.labelLayout ?? 'next';
  const computed =
    runs.length <= 1
      ? computeGradients(model, sampled, { taskWeights: options.taskWeights, random: options.random })
      : computeMicroBatchGradients(model, microBatches(sampled, runs, Object.keys(options.taskWeights)), layout, options.taskWeights, options.random);
  try {
    const update = applyGradients(optimizer, computed, {
      learningRate: options.learningRate,
      clipNorm: options.clipNorm,
      step: options.step,
      customerIds: sampled.customerIds,
    });
    return { taskLosses: computed.taskLosses, loss: computed.loss, ...update };
  } finally {
    disposeGradients(computed.gradients);
  }
}
