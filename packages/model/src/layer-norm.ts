import type * as tf from '@tensorflow/tfjs-core';
import { layerNorm } from './engine/fused.ts';
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

  /** [..., size] -> [..., size], through the engine's layerNorm (one kernel each way with the native module). */
  apply(x: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.gamma as tf.Tensor1D, this.beta as tf.Tensor1D, EPSILON);
  }
}
