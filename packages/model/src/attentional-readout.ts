import * as tf from '@tensorflow/tfjs-core';
import { matMul } from './engine/ops.ts';
import type { PreparedBatch } from './prepared-batch.ts';
import type { CandidateScorer, Readout } from './readout.ts';

/**
 * The task-aware attentional readout: each candidate w attends over the customer's real
 * positions with its own embedding as the query,
 *
 *   a_{w,i} = softmax_i(e_w . h_i),  r_w = sum_i a_{w,i} h_i,  s(w) = r_w . e_w.
 *
 * Since r_w . e_w = sum_i a_{w,i} (h_i . e_w), the score reuses the attention logits
 * z_{w,i} = e_w . h_i: s(w) = sum_i a_{w,i} z_{w,i}. That skips building r_w, a
 * [B, C, hidden] tensor and a second matmul, and leaves one [B * T, hidden] x [hidden, C]
 * matmul plus element-wise work on [B, C, T]. The logits are not scaled by 1/sqrt(hidden),
 * as in the formula.
 */
export class AttentionalReadout implements Readout {
  begin(hidden: tf.Tensor3D, batch: PreparedBatch): CandidateScorer {
    const [batchSize, length] = hidden.shape;
    const keyMask = tf.tensor2d(batch.keyMask, [batchSize, length]); // [B, T], additive
    return attentionalScorer(hidden, keyMask);
  }
}

function attentionalScorer(hidden: tf.Tensor3D, keyMask: tf.Tensor2D): CandidateScorer {
  const [batchSize, length, size] = hidden.shape;
  const flat = tf.reshape(hidden, [batchSize * length, size]); // [B * T, hidden]

  return {
    rows: batchSize * length,
    floatsPerCandidate: length,

    scoreShared(candidates: tf.Tensor2D): tf.Tensor2D {
      const count = candidates.shape[0];
      const flatLogits = matMul(flat, candidates, false, true); // [B * T, C]
      const logits = tf.transpose(tf.reshape(flatLogits, [batchSize, length, count]), [0, 2, 1]); // [B, C, T]
      const attention = tf.softmax(tf.add(logits, tf.reshape(keyMask, [batchSize, 1, length]))); // [B, C, T]
      return tf.sum(tf.mul(attention, logits), -1) as tf.Tensor2D; // [B, C]
    },

    scorePaired(candidates: tf.Tensor2D): tf.Tensor1D {
      const logits = tf.sum(tf.mul(hidden, tf.reshape(candidates, [batchSize, 1, size])), -1); // [B, T]
      const attention = tf.softmax(tf.add(logits, keyMask)); // [B, T]
      return tf.sum(tf.mul(attention, logits), -1) as tf.Tensor1D; // [B]
    },

    project(projection: tf.Tensor2D): CandidateScorer {
      const projected = tf.reshape(matMul(flat, projection, false, true), [batchSize, length, size]); // [B, T, hidden]
      return attentionalScorer(projected as tf.Tensor3D, keyMask);
    },
  };
}
