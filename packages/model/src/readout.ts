import type * as tf from '@tensorflow/tfjs-core';
import { AttentionalReadout } from './attentional-readout.ts';
import type { ModelConfig } from './config.ts';
import { LastPositionReadout } from './last-position-readout.ts';
import type { PreparedBatch } from './prepared-batch.ts';

/** Turns a batch's hidden states and candidate embeddings into one score per (customer, candidate). */
export interface Readout {
  /** Computes what every scoring call on this batch shares. Call inside tf.tidy. */
  begin(hidden: tf.Tensor3D, batch: PreparedBatch): CandidateScorer;
}

/** Scores candidates against one encoded batch of B customers. */
export interface CandidateScorer {
  /** Every customer scores the same candidates: [C, hidden] -> [B, C]. */
  scoreShared(candidates: tf.Tensor2D): tf.Tensor2D;
  /** Customer b scores its own candidate, row b: [B, hidden] -> [B]. */
  scorePaired(candidates: tf.Tensor2D): tf.Tensor1D;
  /**
   * Returns a scorer over the hidden states times projection^T. Because
   * (e W) . h = e . (h W^T), it gives the scores of candidates projected by W, and it is
   * cheaper when there are more candidates than `rows`.
   */
  project(projection: tf.Tensor2D): CandidateScorer;
  /** Hidden-state rows each candidate is multiplied with: B * T (attentional) or B (last position). */
  readonly rows: number;
  /** Number of floats scoreShared allocates per customer and candidate, used to size evaluation chunks. */
  readonly floatsPerCandidate: number;
}

/** Creates the readout that `config.readout` names. */
export function createReadout(config: ModelConfig): Readout {
  return config.readout === 'attentional' ? new AttentionalReadout() : new LastPositionReadout();
}
