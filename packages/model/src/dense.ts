import type * as tf from '@tensorflow/tfjs-core';
import { linear } from './engine/ops.ts';
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
    return linear(x, this.kernel as tf.Tensor2D, this.bias as tf.Tensor1D);
  }
}
