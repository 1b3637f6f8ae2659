import * as tf from '@tensorflow/tfjs-core';
import { matMul } from './engine/ops.ts';
import type { ParameterStore } from './parameters.ts';

/** A fully connected layer, y = x W + b, over the last axis of any rank. */
export class Dense {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable;

  constructor(store: ParameterStore, name: string, inputs: number, outputs: number, initStd: number) {
    this.kernel = store.truncatedNormal(`${name}/kernel`, [inputs, outputs], initStd);
    this.bias = store.constant(`${name}/bias`, [outputs], 0);
  }

  /** [..., inputs] -> [..., outputs] */
  apply(x: tf.Tensor): tf.Tensor {
    const [inputs, outputs] = this.kernel.shape as [number, number];
    const leading = x.shape.slice(0, -1);
    const flat = tf.reshape(x, [-1, inputs]); // [N, inputs]
    const y = tf.add(matMul(flat, this.kernel), this.bias); // [N, outputs]
    return tf.reshape(y, [...leading, outputs]);
  }
}
