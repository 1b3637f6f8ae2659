import * as tf from '@tensorflow/tfjs-core';
import { matMul } from './engine/ops.ts';
import type { PreparedBatch } from './prepared-batch.ts';
import type { CandidateScorer, Readout } from './readout.ts';

/** BERT4Rec's readout: s(w) = h_last . e_w, with h_last the hidden state of the most recent event. */
export class LastPositionReadout implements Readout {
  begin(hidden: tf.Tensor3D, batch: PreparedBatch): CandidateScorer {
    const [batchSize, length, size] = hidden.shape;
    const flat = tf.reshape(hidden, [batchSize * length, size]); // [B * T, hidden]
    return rowScorer(tf.gather(flat, tf.tensor1d(batch.lastIndices, 'int32')) as tf.Tensor2D); // [B, hidden]
  }
}

/**
 * Scores candidates against hidden-state rows, [R, hidden], one row per scored example:
 * s(w) = h . e_w. The last-position readout passes each sequence's most recent position;
 * per-position training passes every labelled position.
 */
export function rowScorer(last: tf.Tensor2D): CandidateScorer {
  return {
    rows: last.shape[0],
    floatsPerCandidate: 1,

    scoreShared(candidates: tf.Tensor2D): tf.Tensor2D {
      return matMul(last, candidates, false, true) as tf.Tensor2D; // [R, C]
    },

    scorePaired(candidates: tf.Tensor2D): tf.Tensor1D {
      return tf.sum(tf.mul(last, candidates), -1) as tf.Tensor1D; // [R]
    },

    project(projection: tf.Tensor2D): CandidateScorer {
      return rowScorer(matMul(last, projection, false, true) as tf.Tensor2D); // [R, hidden]
    },
  };
}
