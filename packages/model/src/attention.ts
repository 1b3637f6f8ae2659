import * as tf from '@tensorflow/tfjs-core';
import { Dense } from './dense.ts';
import type { Dropout } from './dropout.ts';
import { matMul } from './engine/ops.ts';
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
    private readonly hidden: number,
    private readonly heads: number,
    initStd: number,
  ) {
    this.query = new Dense(store, `${name}/query`, hidden, hidden, initStd);
    this.key = new Dense(store, `${name}/key`, hidden, hidden, initStd);
    this.value = new Dense(store, `${name}/value`, hidden, hidden, initStd);
    this.output = new Dense(store, `${name}/output`, hidden, hidden, initStd);
  }

  /**
   * x: [B, T, hidden]; mask: additive, broadcastable to [B, heads, T, T] (0 where a query
   * may attend to a key, a large negative number where it may not). Returns [B, T, hidden].
   */
  apply(x: tf.Tensor3D, mask: tf.Tensor4D, dropout: Dropout, rate: number): tf.Tensor3D {
    const [batchSize, length] = x.shape;
    const headSize = this.hidden / this.heads;

    const split = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [batchSize, length, this.heads, headSize]), [0, 2, 1, 3]); // [B, h, T, hs]
    const q = split(this.query.apply(x));
    const k = split(this.key.apply(x));
    const v = split(this.value.apply(x));

    const logits = tf.add(tf.mul(matMul(q, k, false, true), 1 / Math.sqrt(headSize)), mask); // [B, h, T, T]
    const probabilities = dropout(tf.softmax(logits), rate);
    const context = matMul(probabilities, v); // [B, h, T, hs]

    const merged = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batchSize, length, this.hidden]); // [B, T, hidden]
    return this.output.apply(merged) as tf.Tensor3D;
  }
}
