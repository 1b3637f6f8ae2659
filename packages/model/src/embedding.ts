import * as tf from '@tensorflow/tfjs-core';
import { tableRows, type ModelConfig } from './config.ts';
import type { ParameterStore } from './parameters.ts';
import type { PreparedBatch } from './prepared-batch.ts';

/**
 * The heterogeneous embedding: one table per input feature, averaged position by position
 * over the features present at the event, plus a learned position embedding.
 *
 * Index 0 of every table is padding, and its row starts at zero. Every gathered row is
 * multiplied by a weight that is 0 for id 0 and for any id at a padding position, so the
 * gather's gradient sends exactly 0 to row 0, and SGD, Adam and weight decay keep it at
 * zero. Index 1 is out-of-vocabulary, an ordinary learned row.
 * With `maskToken`, index vocabularySize is the Cloze mask token.
 */
export class HeterogeneousEmbedding {
  /** Feature name -> table, [rows, hidden]. */
  readonly tables = new Map<string, tf.Variable>();
  /** [maxLength, hidden] */
  readonly positions: tf.Variable;

  constructor(store: ParameterStore, config: ModelConfig) {
    for (const feature of config.features) {
      const shape = [tableRows(config, feature), config.hidden];
      this.tables.set(feature.name, store.truncatedNormal(`embedding/${feature.name}`, shape, config.initStd, { zeroFirstRow: true }));
    }
    this.positions = store.truncatedNormal('embedding/position', [config.maxLength, config.hidden], config.initStd);
  }

  /** Returns the input of the first block, [B, T, hidden]. */
  apply(batch: PreparedBatch): tf.Tensor3D {
    const { batchSize, length } = batch;
    const hidden = this.positions.shape[1]!;

    const pooled = batch.features.map((feature) => {
      const table = this.tables.get(feature.name)!;
      const rows = tf.gather(table, tf.tensor1d(feature.ids, 'int32')); // [B * T * W, hidden]
      const weights = tf.tensor2d(feature.weights, [feature.weights.length, 1]); // [B * T * W, 1]
      const weighted = tf.mul(rows, weights);
      if (feature.width === 1) return weighted; // [B * T, hidden]
      return tf.sum(tf.reshape(weighted, [batchSize * length, feature.width, hidden]), 1); // [B * T, hidden]
    });
    const events = pooled.length === 1 ? pooled[0]! : tf.addN(pooled); // [B * T, hidden]

    const positions = tf.gather(this.positions, tf.tensor1d(batch.positionIds, 'int32')); // [B * T, hidden]
    return tf.reshape(tf.add(events, positions), [batchSize, length, hidden]);
  }
}
