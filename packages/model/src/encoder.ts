import * as tf from '@tensorflow/tfjs-core';
import { TransformerBlock } from './block.ts';
import type { ModelConfig } from './config.ts';
import type { Dropout } from './dropout.ts';
import { HeterogeneousEmbedding } from './embedding.ts';
import { LayerNorm } from './layer-norm.ts';
import type { ParameterStore } from './parameters.ts';
import { MASKED_LOGIT, type PreparedBatch } from './prepared-batch.ts';

/** The sequential encoder: heterogeneous embedding, then `layers` transformer blocks. */
export class Encoder {
  readonly embedding: HeterogeneousEmbedding;
  private readonly blocks: TransformerBlock[] = [];
  /** post-LN: normalises the embedding, as BERT does. pre-LN: normalises the last block's output. */
  private readonly norm: LayerNorm;

  constructor(
    store: ParameterStore,
    private readonly config: ModelConfig,
  ) {
    this.embedding = new HeterogeneousEmbedding(store, config);
    this.norm = new LayerNorm(store, config.normalization === 'post' ? 'embedding/norm' : 'final_norm', config.hidden);
    for (let layer = 0; layer < config.layers; layer++) {
      this.blocks.push(new TransformerBlock(store, `block${layer}`, config));
    }
  }

  /**
   * Returns the last block's hidden states, [B, T, hidden]. Rows at padding positions are
   * finite but meaningless; every consumer masks them.
   */
  apply(batch: PreparedBatch, dropout: Dropout): tf.Tensor3D {
    const mask = this.attentionMask(batch);

    let x = this.embedding.apply(batch); // [B, T, hidden]
    if (this.config.normalization === 'post') x = this.norm.apply(x) as tf.Tensor3D;
    x = dropout(x, this.config.dropout) as tf.Tensor3D;

    for (const block of this.blocks) x = block.apply(x, mask, dropout);

    if (this.config.normalization === 'pre') x = this.norm.apply(x) as tf.Tensor3D;
    return x;
  }

  /**
   * Builds the additive self-attention mask: [B, 1, 1, T] hides padding keys, and for
   * causal attention a [1, 1, T, T] term hides keys after the query. Every query keeps at
   * least one key because position 0 is always real, so no softmax row is fully masked.
   */
  private attentionMask(batch: PreparedBatch): tf.Tensor4D {
    const { batchSize, length } = batch;
    const keyMask = tf.tensor4d(batch.keyMask, [batchSize, 1, 1, length]);
    if (this.config.attention === 'bidirectional') return keyMask;

    const future = new Float32Array(length * length);
    for (let query = 0; query < length; query++) {
      for (let key = query + 1; key < length; key++) future[query * length + key] = MASKED_LOGIT;
    }
    return tf.add(keyMask, tf.tensor4d(future, [1, 1, length, length])); // [B, 1, T, T]
  }
}
