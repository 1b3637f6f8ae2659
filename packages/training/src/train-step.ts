import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '@mcm/common';
import type { AdamW } from './optimizer/adamw.ts';
import type { SampledBatch } from './samplers/batch-sampler.ts';
import type { TaskWeights } from './task-loss.ts';
import type { TrainableModel } from './trainable-model.ts';

/** What one optimizer step measured. */
export interface StepResult {
  /** Mean cross-entropy of each task on the batch, before the update. */
  taskLosses: Record<string, number>;
  /** Weighted sum of the task losses: the value minimised. */
  loss: number;
  /** Global L2 norm of the gradients before clipping. */
  gradientNorm: number;
  /** Whether the gradients were scaled down to the clipping norm. */
  clipped: boolean;
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
}

/**
 * Runs one optimizer step on `sampled`: the weighted sum of the task losses, its
 * gradients, global-norm clipping and an AdamW update. Throws NonFiniteLossError,
 * before touching the weights, when a loss or the gradient norm is NaN or infinite.
 */
export function trainStep(model: TrainableModel, optimizer: AdamW, sampled: SampledBatch, options: StepOptions): StepResult {
  const tasks = Object.keys(options.taskWeights);
  const names: string[] = [];
  const variables: tf.Variable[] = [];
  for (const [name, variable] of model.variables) {
    if (!variable.trainable) continue;
    names.push(name);
    variables.push(variable);
  }

  let stackedLosses: tf.Tensor1D | undefined;
  const { total, norm, gradients } = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const losses = model.taskLosses(sampled.batch, sampled.labels, { training: true, random: options.random });
      const perTask = tasks.map((task) => {
        const loss = losses[task];
        if (loss === undefined) throw new Error(`the model returned no loss for task "${task}"; its tasks: ${Object.keys(losses).join(', ')}`);
        return loss;
      });
      // Kept past the gradient scope so that each task's loss can be logged.
      stackedLosses = tf.keep(tf.stack(perTask) as tf.Tensor1D);
      return tf.addN(perTask.map((loss, t) => tf.mul(loss, options.taskWeights[tasks[t]!]!))) as tf.Scalar;
    }, variables);

    // A variable that does not influence the loss (a head of an untrained task) has no gradient.
    const squares = Object.values(grads).map((gradient) => tf.sum(tf.square(gradient)));
    return { total: value, norm: tf.sqrt(tf.addN(squares)), gradients: grads };
  });

  try {
    const perTask = stackedLosses!.dataSync();
    const taskLosses = Object.fromEntries(tasks.map((task, t) => [task, perTask[t]!]));
    const loss = total.dataSync()[0]!;
    const gradientNorm = norm.dataSync()[0]!;
    if (!Number.isFinite(loss) || !Number.isFinite(gradientNorm)) {
      throw new NonFiniteLossError(options.step, sampled.customerIds, taskLosses, gradientNorm);
    }

    const clipped = gradientNorm > options.clipNorm;
    const scale = clipped ? options.clipNorm / gradientNorm : 1;
    const byName = new Map<string, tf.Tensor>();
    variables.forEach((variable, i) => {
      const gradient = gradients[variable.name];
      if (gradient !== undefined) byName.set(names[i]!, gradient);
    });
    optimizer.apply(byName, options.learningRate, scale);
    return { taskLosses, loss, gradientNorm, clipped };
  } finally {
    stackedLosses?.dispose();
    total.dispose();
    norm.dispose();
    for (const gradient of Object.values(gradients)) gradient.dispose();
  }
}
