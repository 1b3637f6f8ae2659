import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '@mcm/common';

/** Applies dropout to a tensor, or returns it unchanged outside training. */
export interface Dropout {
  (x: tf.Tensor, rate: number): tf.Tensor;
  /**
   * Returns the multipliers that dropout at `rate` applies to a tensor of `shape` (0 for a
   * dropped value, 1 / (1 - rate) for a kept one), for ops that apply them inside a fused
   * kernel. Returns undefined when nothing is dropped: outside training, or at rate 0.
   */
  multipliers(shape: number[], rate: number): tf.Tensor | undefined;
}

/** Dropout for inference: the identity. */
export const noDropout: Dropout = Object.assign((x: tf.Tensor) => x, { multipliers: () => undefined });

/**
 * Dropout whose masks are seeded from `random`, so a run is reproducible from its seed.
 * Each call, of the dropout or of `multipliers`, draws one seed, and a zero rate draws none.
 * `multipliers` returns exactly the multipliers that tf.dropout draws from the same seed, so
 * attention's masks are those that tf.dropout of its probabilities would draw.
 */
export function seededDropout(random: Random): Dropout {
  const apply = (x: tf.Tensor, rate: number) => (rate === 0 ? x : tf.dropout(x, rate, undefined, random.nextUint32()));
  const multipliers = (shape: number[], rate: number) => (rate === 0 ? undefined : keepMultipliers(shape, rate, random.nextUint32()));
  return Object.assign(apply, { multipliers });
}

/** tf.dropout's multipliers for `seed`: floor(uniform [0, 1) + keep) / keep, with keep = 1 - rate. */
function keepMultipliers(shape: number[], rate: number, seed: number): tf.Tensor {
  return tf.tidy(() => {
    const keep = 1 - rate;
    return tf.div(tf.floor(tf.add(tf.randomUniform(shape, 0, 1, 'float32', seed), keep)), keep);
  });
}
