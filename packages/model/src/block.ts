import * as tf from '@tensorflow/tfjs-core';
import { MultiHeadSelfAttention } from './attention.ts';
import type { ModelConfig } from './config.ts';
import type { Dropout } from './dropout.ts';
import { FeedForward } from './feed-forward.ts';
import { LayerNorm } from './layer-norm.ts';
import type { ParameterStore } from './parameters.ts';

/**
 * One transformer block: self-attention then a feed-forward network, each with dropout, a
 * residual connection and layer normalisation. `post`: x = LN(x + f(x)), as in BERT and
 * BERT4Rec. `pre`: x = x + f(LN(x)), and the encoder normalises the last block's output.
 */
export class TransformerBlock {
  private readonly attention: MultiHeadSelfAttention;
  private readonly attentionNorm: LayerNorm;
  private readonly ffn: FeedForward;
  private readonly ffnNorm: LayerNorm;

  constructor(
    store: ParameterStore,
    name: string,
    private readonly config: ModelConfig,
  ) {
    this.attention = new MultiHeadSelfAttention(store, `${name}/attention`, config.hidden, config.heads, config.initStd);
    this.attentionNorm = new LayerNorm(store, `${name}/attention_norm`, config.hidden);
    this.ffn = new FeedForward(store, `${name}/ffn`, config.hidden, config.ffnWidth, config.initStd);
    this.ffnNorm = new LayerNorm(store, `${name}/ffn_norm`, config.hidden);
  }

  /** x: [B, T, hidden]; mask as in MultiHeadSelfAttention.apply. Returns [B, T, hidden]. */
  apply(x: tf.Tensor3D, mask: tf.Tensor4D, dropout: Dropout): tf.Tensor3D {
    const { dropout: rate, attentionDropout, normalization } = this.config;
    const attend = (input: tf.Tensor3D) => dropout(this.attention.apply(input, mask, dropout, attentionDropout), rate);
    const transform = (input: tf.Tensor3D) => dropout(this.ffn.apply(input), rate);

    if (normalization === 'post') {
      const attended = this.attentionNorm.apply(tf.add(x, attend(x))) as tf.Tensor3D;
      return this.ffnNorm.apply(tf.add(attended, transform(attended))) as tf.Tensor3D;
    }
    const attended = tf.add(x, attend(this.attentionNorm.apply(x) as tf.Tensor3D)) as tf.Tensor3D;
    return tf.add(attended, transform(this.ffnNorm.apply(attended) as tf.Tensor3D)) as tf.Tensor3D;
  }
}
