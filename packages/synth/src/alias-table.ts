import type { Random } from '@mcm/common';

/**
 * Draws an index with probability proportional to its weight in O(1) per draw (Walker's
 * alias method, Vose's construction), using one uniform number per draw.
 */
export class AliasTable {
  readonly size: number;
  private readonly threshold: Float64Array;
  private readonly alias: Int32Array;

  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    if (n === 0) throw new Error('AliasTable needs at least one weight, got none');

    let total = 0;
    for (let i = 0; i < n; i++) {
      const weight = weights[i]!;
      if (!(weight >= 0) || !Number.isFinite(weight)) {
        throw new Error(`AliasTable weights must be finite and non-negative, got ${weight} at index ${i}`);
      }
      total += weight;
    }
    if (!(total > 0)) throw new Error(`AliasTable weights must not all be zero (${n} weights)`);

    this.size = n;
    this.threshold = new Float64Array(n);
    this.alias = new Int32Array(n);

    const scaled = new Float64Array(n);
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < n; i++) {
      scaled[i] = (weights[i]! * n) / total;
      (scaled[i]! < 1 ? small : large).push(i);
    }

    while (small.length > 0 && large.length > 0) {
      const low = small.pop()!;
      const high = large.pop()!;
      this.threshold[low] = scaled[low]!;
      this.alias[low] = high;
      scaled[high] = scaled[high]! + scaled[low]! - 1;
      (scaled[high]! < 1 ? small : large).push(high);
    }
    // Whatever is left is 1 up to rounding error: it keeps its own index.
    for (const i of large) this.threshold[i] = 1;
    for (const i of small) this.threshold[i] = 1;
  }

  /** Draws one index in [0, size). */
  sample(random: Random): number {
    const u = random.next() * this.size;
    const column = Math.floor(u);
    return u - column < this.threshold[column]! ? column : this.alias[column]!;
  }
}

/** Returns Zipf weights 1/rank^exponent for ranks 1..count. */
export function zipfWeights(count: number, exponent: number): Float64Array {
  const weights = new Float64Array(count);
  for (let rank = 1; rank <= count; rank++) weights[rank - 1] = rank ** -exponent;
  return weights;
}
