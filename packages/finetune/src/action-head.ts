import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '@mcm/common';
import { linear } from '@mcm/model';

/** Standard deviation of the head's initial weights, as the encoder's (BERT's 0.02 is too small for a fresh two-layer head). */
const INIT_STD = 0.1;

/**
 * The new head of the fine-tuning task: a two-layer network (ReLU) from the customer
 * embedding [B, hidden] to one logit per action [B, actions].
 */
export class ActionHead {
  readonly variables: ReadonlyMap<string, tf.Variable>;
  private readonly hiddenKernel: tf.Variable<tf.Rank.R2>;
  private readonly hiddenBias: tf.Variable<tf.Rank.R1>;
  private readonly outputKernel: tf.Variable<tf.Rank.R2>;
  private readonly outputBias: tf.Variable<tf.Rank.R1>;

  constructor(inputs: number, width: number, actions: number, random: Random) {
    const normal = (shape: [number, number]) =>
      tf.variable(tf.tensor2d(Float32Array.from({ length: shape[0] * shape[1] }, () => INIT_STD * random.normal()), shape));
    this.hiddenKernel = normal([inputs, width]);
    this.hiddenBias = tf.variable(tf.zeros([width]));
    this.outputKernel = normal([width, actions]);
    this.outputBias = tf.variable(tf.zeros([actions]));
    this.variables = new Map<string, tf.Variable>([
      ['head/hidden/kernel', this.hiddenKernel],
      ['head/hidden/bias', this.hiddenBias],
      ['head/output/kernel', this.outputKernel],
      ['head/output/bias', this.outputBias],
    ]);
  }

  /** Returns the action logits of a batch of embeddings, [B, hidden] -> [B, actions]. */
  apply(embedding: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const hidden = tf.relu(linear(embedding, this.hiddenKernel, this.hiddenBias)); // [B, width]
      return linear(hidden, this.outputKernel, this.outputBias) as tf.Tensor2D; // [B, actions]
    });
  }

  /** Returns a copy of the weights, to restore the best epoch later. */
  snapshot(): Map<string, tf.Tensor> {
    return new Map([...this.variables].map(([name, variable]) => [name, tf.clone(variable)]));
  }

  /** Restores weights from a snapshot and disposes it. */
  restore(snapshot: Map<string, tf.Tensor>): void {
    for (const [name, tensor] of snapshot) {
      this.variables.get(name)!.assign(tensor);
      tensor.dispose();
    }
  }

  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose();
  }
}
