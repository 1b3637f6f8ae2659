import type * as tf from '@tensorflow/tfjs-core';
import type { Random } from '@mcm/common';
import type { LabelLayout, SequenceBatch, TaskLabels } from '@mcm/model';

/** Weights as plain arrays, keyed by stable variable names. */
export type NamedWeights = Record<string, { shape: number[]; values: Float32Array }>;

/**
 * The part of a model that training and evaluation use. `CustomerModel` of @mcm/model
 * has this shape, and the interface lets tests of this package use small models.
 */
export interface TrainableModel {
  /** Every variable, by stable name; the optimizer updates the trainable ones. */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /**
   * Per-task mean cross-entropy of the labels, laid out as `labelLayout` specifies (default
   * `next`: one per sequence); labels equal to 0 are ignored. Called inside gradient
   * code, so the returned scalars are tracked.
   */
  taskLosses(batch: SequenceBatch, labels: TaskLabels, options: { training: boolean; random: Random; labelLayout?: LabelLayout }): Record<string, tf.Scalar>;
  /** Scores of every candidate of `task`, [B, vocabularySize]; ids 0 and 1 score -Infinity. */
  scores(batch: SequenceBatch, task: string, options?: { chunkSize?: number }): tf.Tensor2D;
  getWeights(): NamedWeights;
  setWeights(weights: NamedWeights): void;
  dispose(): void;
}
