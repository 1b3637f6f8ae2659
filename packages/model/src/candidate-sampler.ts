import type { Random } from '@mcm/common';

/** Sampled negatives of one task and batch, with the log-Q correction of each. */
export interface SampledCandidates {
  /** [N] candidate ids, drawn with replacement. */
  ids: Int32Array;
  /** [N] log(N * q(id)): the log of the expected number of draws of the id. */
  logExpectedCounts: Float32Array;
}

/**
 * Draws candidates from a log-uniform (Zipfian) distribution over ids 1 .. V-1:
 * q(id) = log((id + 1) / id) / log(V). This approximates the frequency of the ids because
 * vocabularies number real values by descending training frequency from id 2; padding (0)
 * is never drawn and out-of-vocabulary (1) gets the largest probability.
 */
export class LogUniformSampler {
  private readonly logRange: number;

  constructor(readonly vocabularySize: number) {
    if (!Number.isInteger(vocabularySize) || vocabularySize < 2) {
      throw new Error(`vocabularySize ${vocabularySize} must be an integer of at least 2`);
    }
    this.logRange = Math.log(vocabularySize);
  }

  /** Returns q(id), the probability of `id` in one draw. */
  probability(id: number): number {
    if (!(id >= 1 && id < this.vocabularySize)) return 0;
    return Math.log1p(1 / id) / this.logRange;
  }

  /** Draws `count` ids with replacement. */
  sample(random: Random, count: number): SampledCandidates {
    const ids = new Int32Array(count);
    const logExpectedCounts = new Float32Array(count);
    for (let j = 0; j < count; j++) {
      // exp(u log V) is log-uniform on [1, V), so its floor lands on id with probability q(id).
      const id = Math.min(Math.floor(Math.exp(random.next() * this.logRange)), this.vocabularySize - 1);
      ids[j] = id;
      logExpectedCounts[j] = Math.log(count * this.probability(id));
    }
    return { ids, logExpectedCounts };
  }
}
