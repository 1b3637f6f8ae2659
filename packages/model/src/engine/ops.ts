import * as tf from '@tensorflow/tfjs-core';

// NOTE: plain tfjs matmuls for now; the engine replaces them with versions whose
// gradients stay on the wasm backend's fast (untransposed, batch 1) path.

/** [m, k] x [k, n] -> [m, n], or batched [..., m, k] x [..., k, n]. */
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  return tf.matMul(a, b, transposeA, transposeB);
}
