import type * as tf from '@tensorflow/tfjs-core';
import { Dense } from './dense.ts';
import type { Dropout } from './dropout.ts';
import { attention } from './engine/attention.ts';
import type { ParameterStore } from './parameters.ts';

/** Multi-head scaled dot-product self-attention. */
export class MultiHeadSelfAttention {
  private readonly query: Dense;
  private readonly key: Dense;
  private readonly value: Dense;
  private readonly output: Dense;

  constructor(
    store: ParameterStore,
    name: string,
    hidden: number,
    private readonly heads: number,
    initStd: number,
  ) {
    this.query = new Dense(store, `${name}/query`, hidden, hidden, initStd);
    this.key = new Dense(store, `${name}/key`, hidden, hidden, initStd);
    this.value = new Dense(store, `${name}/value`, hidden, hidden, initStd);
    this.output = new Dense(store, `${name}/output`, hidden, hidden, initStd);
  }

  /**
   * x: [B, T, hidden]; mask: additive, [B, 1, 1, T] or [B, 1, T, T] (0 where a query may
   * attend to a key, a large negative number where it may not). Returns [B, T, hidden].
   * The attention probabilities get dropout at `rate`, with multipliers drawn from `dropout`.
   */
  apply(x: tf.Tensor3D, mask: tf.Tensor4D, dropout: Dropout, rate: number): tf.Tensor3D {
    const [batchSize, length] = x.shape;
    const q = this.query.apply(x) as tf.Tensor3D; // [B, T, hidden], head h in columns h * hs .. (h + 1) * hs
    const k = this.key.apply(x) as tf.Tensor3D;
    const v = this.value.apply(x) as tf.Tensor3D;

    const keep = dropout.multipliers([batchSize, this.heads, length, length], rate) as tf.Tensor4D | undefined;
    const context = attention(q, k, v, mask, this.heads, keep); // [B, T, hidden]
    return this.output.apply(context) as tf.Tensor3D;
  }
}
