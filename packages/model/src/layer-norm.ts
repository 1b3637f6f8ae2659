import * as tf from '@tensorflow/tfjs-core';
import type { ParameterStore } from './parameters.ts';

/** PyTorch's LayerNorm default; it keeps near-constant rows, such as padding positions, finite. */
export const EPSILON = 1e-5;

/** Layer normalisation over the last axis, with a learned gain (gamma) and offset (beta). */
export class LayerNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;

  constructor(store: ParameterStore, name: string, size: number) {
    this.gamma = store.constant(`${name}/gamma`, [size], 1);
    this.beta = store.constant(`${name}/beta`, [size], 0);
  }

  /** [..., size] -> [..., size] */
  apply(x: tf.Tensor): tf.Tensor {
    const mean = tf.mean(x, -1, true); // [..., 1]
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true); // [..., 1]
    const normalized = tf.mul(centered, tf.rsqrt(tf.add(variance, EPSILON)));
    return tf.add(tf.mul(normalized, this.gamma), this.beta);
  }
}
