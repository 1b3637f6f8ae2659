import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '@mcm/common';
import type { SequenceBatch, TaskLabels } from '@mcm/model';
import type { NamedWeights, TrainableModel } from '../../src/trainable-model.ts';

/**
 * A tiny model with the TrainableModel interface, for tests of the training machinery
 * only: the customer is the mean of the feature embeddings of the most recent event,
 * passed through one dense layer, and each task scores its candidates by a dot
 * product with an output table.
 */
export class StandInModel implements TrainableModel {
  readonly variables: Map<string, tf.Variable>;
  private readonly features: Record<string, number>;
  private readonly tasks: Record<string, number>;
  /** When set, taskLosses returns NaN for the task, to test divergence handling. */
  poisonTask: string | null = null;

  constructor(features: Record<string, number>, tasks: Record<string, number>, hidden: number, seed: number) {
    this.features = features;
    this.tasks = tasks;
    this.variables = new Map();
    let offset = 0;
    const add = (name: string, shape: number[]) => {
      const variable = tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 0.1, 'float32', seed + offset++), true, `${name}-${seed}-${Math.random()}`));
      this.variables.set(name, variable);
    };
    for (const [name, size] of Object.entries(features)) add(`embedding.${name}`, [size, hidden]);
    add('dense.kernel', [hidden, hidden]);
    this.variables.set('dense.bias', tf.variable(tf.zeros([hidden]), true, `dense.bias-${seed}-${Math.random()}`));
    for (const [name, size] of Object.entries(tasks)) add(`output.${name}`, [size, hidden]);
  }

  private encode(batch: SequenceBatch): tf.Tensor2D {
    const pooled = Object.keys(this.features).map((name) => {
      const column = batch.features[name]!;
      const last = new Int32Array(batch.batchSize);
      for (let b = 0; b < batch.batchSize; b++) last[b] = column.ids[(b * batch.length + batch.lengths[b]! - 1) * column.width]!;
      return tf.gather(this.variables.get(`embedding.${name}`)!, tf.tensor1d(last, 'int32'));
    });
    const mean = tf.div(tf.addN(pooled), pooled.length) as tf.Tensor2D;
    return tf.tanh(tf.add(tf.matMul(mean, this.variables.get('dense.kernel')!), this.variables.get('dense.bias')!)) as tf.Tensor2D;
  }

  private logits(batch: SequenceBatch, task: string): tf.Tensor2D {
    return tf.matMul(this.encode(batch), this.variables.get(`output.${task}`)!, false, true);
  }

  taskLosses(batch: SequenceBatch, labels: TaskLabels, _options: { training: boolean; random: Random }): Record<string, tf.Scalar> {
    const losses: Record<string, tf.Scalar> = {};
    for (const [task, size] of Object.entries(this.tasks)) {
      const label = labels[task]!;
      const mask = tf.tensor1d(Float32Array.from(label, (id) => (id === 0 ? 0 : 1)));
      const logProbabilities = tf.logSoftmax(this.logits(batch, task));
      const picked = tf.sum(tf.mul(logProbabilities, tf.oneHot(tf.tensor1d(label, 'int32'), size)), 1);
      let loss = tf.div(tf.neg(tf.sum(tf.mul(picked, mask))), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
      if (this.poisonTask === task) loss = tf.mul(loss, NaN) as tf.Scalar;
      losses[task] = loss;
    }
    return losses;
  }

  scores(batch: SequenceBatch, task: string): tf.Tensor2D {
    return tf.tidy(() => {
      const size = this.tasks[task]!;
      const blocked = new Float32Array(size);
      blocked[0] = -Infinity;
      blocked[1] = -Infinity;
      return tf.add(this.logits(batch, task), tf.tensor1d(blocked)) as tf.Tensor2D;
    });
  }

  getWeights(): NamedWeights {
    const weights: NamedWeights = {};
    for (const [name, variable] of this.variables) weights[name] = { shape: variable.shape.slice(), values: variable.dataSync() as Float32Array };
    return weights;
  }

  setWeights(weights: NamedWeights): void {
    for (const [name, variable] of this.variables) {
      const saved = weights[name];
      if (saved === undefined) throw new Error(`no weights for ${name}`);
      tf.tidy(() => variable.assign(tf.tensor(saved.values, saved.shape)));
    }
  }

  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose();
  }
}
