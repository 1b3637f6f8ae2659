import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig, TaskConfig } from './config.ts';
import { matMul } from './engine/ops.ts';
import type { ParameterStore } from './parameters.ts';
import type { CandidateScorer } from './readout.ts';

/**
 * A task's candidates: their embeddings are rows of the task feature's input table (tied
 * weights), optionally mapped by a per-task [hidden, hidden] matrix, and their scores get
 * an optional per-candidate bias.
 */
export class TaskHead {
  /** [hidden, hidden], initialised to the identity; null without `candidateProjection`. */
  private readonly projection: tf.Variable | null;
  /** [vocabularySize], initialised to 0; null without `candidateBias`. */
  private readonly bias: tf.Variable | null;

  constructor(
    store: ParameterStore,
    config: ModelConfig,
    readonly task: TaskConfig,
    private readonly table: tf.Variable,
  ) {
    this.projection = config.candidateProjection ? store.identity(`task/${task.name}/projection`, config.hidden) : null;
    this.bias = config.candidateBias ? store.constant(`task/${task.name}/bias`, [task.vocabularySize], 0) : null;
  }

  /** Scores candidates `ids` for every customer: [B, C]. */
  scoreShared(scorer: CandidateScorer, ids: Int32Array): tf.Tensor2D {
    const idTensor = tf.tensor1d(ids, 'int32');
    const scores = this.scoreRows(scorer, tf.gather(this.table, idTensor) as tf.Tensor2D); // [B, C]
    return this.bias === null ? scores : (tf.add(scores, tf.gather(this.bias, idTensor)) as tf.Tensor2D);
  }

  /** Scores the candidates start .. start + count - 1 for every customer: [B, count]. */
  scoreRange(scorer: CandidateScorer, start: number, count: number): tf.Tensor2D {
    const hidden = this.table.shape[1]!;
    const rows = tf.slice(this.table, [start, 0], [count, hidden]) as tf.Tensor2D; // [count, hidden]
    const scores = this.scoreRows(scorer, rows); // [B, count]
    return this.bias === null ? scores : (tf.add(scores, tf.slice(this.bias, [start], [count])) as tf.Tensor2D);
  }

  /** Scores candidate ids[b] for customer b: [B]. */
  scorePaired(scorer: CandidateScorer, ids: Int32Array): tf.Tensor1D {
    const idTensor = tf.tensor1d(ids, 'int32');
    const scores = scorer.scorePaired(this.project(tf.gather(this.table, idTensor) as tf.Tensor2D)); // [B]
    return this.bias === null ? scores : (tf.add(scores, tf.gather(this.bias, idTensor)) as tf.Tensor1D);
  }

  /**
   * Scores table rows [C, hidden] for every customer: [B, C]. The projection multiplies
   * whichever side has fewer rows, the candidates or the hidden states.
   */
  private scoreRows(scorer: CandidateScorer, rows: tf.Tensor2D): tf.Tensor2D {
    if (this.projection !== null && rows.shape[0] > scorer.rows) {
      return scorer.project(this.projection as tf.Tensor2D).scoreShared(rows);
    }
    return scorer.scoreShared(this.project(rows));
  }

  /** [C, hidden] -> [C, hidden] */
  private project(rows: tf.Tensor2D): tf.Tensor2D {
    return this.projection === null ? rows : (matMul(rows, this.projection) as tf.Tensor2D);
  }
}
