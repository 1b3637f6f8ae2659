import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '@mcm/common';

/** Applies dropout to a tensor, or returns it unchanged outside training. */
export type Dropout = (x: tf.Tensor, rate: number) => tf.Tensor;

/** Dropout for inference: the identity. */
export const noDropout: Dropout = (x) => x;

/**
 * Dropout whose masks are seeded from `random`, so a run is reproducible from its seed.
 * Each call draws one seed, and a zero rate draws none.
 */
export function seededDropout(random: Random): Dropout {
  return (x, rate) => (rate === 0 ? x : tf.dropout(x, rate, undefined, random.nextUint32()));
}
