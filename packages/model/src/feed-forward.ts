import * as tf from '@tensorflow/tfjs-core';
import { Dense } from './dense.ts';
import type { ParameterStore } from './parameters.ts';

/** The block's position-wise network: hidden -> ffnWidth -> GELU -> hidden. */
export class FeedForward {
  private readonly inner: Dense;
  private readonly outer: Dense;

  constructor(store: ParameterStore, name: string, hidden: number, width: number, initStd: number) {
    this.inner = new Dense(store, `${name}/inner`, hidden, width, initStd);
    this.outer = new Dense(store, `${name}/outer`, width, hidden, initStd);
  }

  /** [B, T, hidden] -> [B, T, hidden] */
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return this.outer.apply(gelu(this.inner.apply(x))) as tf.Tensor3D;
  }
}

/** Applies the exact GELU, x * Phi(x), computed with erf. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}
