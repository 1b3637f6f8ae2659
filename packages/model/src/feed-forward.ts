import type * as tf from '@tensorflow/tfjs-core';
import { Dense } from './dense.ts';
import { gelu } from './engine/fused.ts';
import type { ParameterStore } from './parameters.ts';

/** The block's position-wise network: hidden -> ffnWidth -> GELU (exact, with erf) -> hidden. */
export class FeedForward {
  private readonly inner: Dense;
  private readonly outer: Dense;

  constructor(store: ParameterStore, name: string, hidden: number, width: number, initStd: number) {
    this.inner = new Dense(store, `${name}/inner`, hidden, width, initStd);
    this.outer = new Dense(store, `${name}/outer`, width, hidden, initStd);
  }

  /** [B, T, hidden] -> [B, T, hidden] */
  apply(x: tf.Tensor3D): tf.Tensor3D {
    const expanded = this.inner.apply(x); // [B, T, ffnWidth]
    return this.outer.apply(gelu(expanded)) as tf.Tensor3D;
  }
}
