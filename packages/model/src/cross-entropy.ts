import * as tf from '@tensorflow/tfjs-core';

/**
 * Weighted mean of -log softmax(logits[b])[targets[b]] over rows b.
 *
 * logits: [B, C]; targets: [B] column of each row's true class; weights: [B], already
 * normalised (1 / rows counted, 0 for ignored rows). All ignored gives a loss of 0.
 */
export function crossEntropy(logits: tf.Tensor2D, targets: Int32Array, weights: Float32Array): tf.Scalar {
  const [rows, columns] = logits.shape;
  const flatTargets = new Int32Array(rows);
  for (let b = 0; b < rows; b++) flatTargets[b] = b * columns + targets[b]!;

  const logProbabilities = tf.reshape(tf.logSoftmax(logits), [rows * columns]); // [B * C]
  const picked = tf.gather(logProbabilities, tf.tensor1d(flatTargets, 'int32')); // [B]
  return tf.neg(tf.sum(tf.mul(picked, tf.tensor1d(weights)))) as tf.Scalar;
}

/** Weights of the mean over labelled rows: 1 / (labels that are not 0) where labels[b] != 0, else 0. */
export function labelWeights(labels: Int32Array): Float32Array {
  let labelled = 0;
  for (const label of labels) if (label !== 0) labelled++;
  const weights = new Float32Array(labels.length);
  if (labelled === 0) return weights;
  for (let b = 0; b < labels.length; b++) if (labels[b] !== 0) weights[b] = 1 / labelled;
  return weights;
}
