import { FIRST_VALUE_ID, OOV_ID, PAD_ID } from '@mcm/schema';

/** Metrics of one task: "ndcg@10", "recall@10", "precision@10", "mrr@10" for each K, and "examples". */
export type TaskMetrics = Record<string, number>;

/**
 * Returns the 1-based rank of each example's target among the candidates of its row, with ties
 * ranked pessimistically: rank = 1 + the number of other candidates whose score is not
 * lower than the target's. Candidates are the ids from FIRST_VALUE_ID to
 * vocabularySize - 1; padding and out-of-vocabulary are never ranked.
 *
 * A target equal to OOV_ID (a value never seen in training) gets rank Infinity, a miss
 * at every K that still counts in the denominator. A NaN score counts as not lower than
 * any other score, so it never helps its target. A target equal to PAD_ID (an event
 * whose multi-valued task feature has no value) has no rank: NaN, left out of the
 * metrics.
 *
 * `excluded[b]`, when given, contains the candidates taken out of row b's ranking, such as
 * the values the customer has already seen. None of them counts as ahead of the target.
 * A target that is itself excluded can never be recommended, so it gets rank Infinity.
 *
 * `scores` is row-major [targets.length, vocabularySize].
 */
export function rankTargets(scores: ArrayLike<number>, vocabularySize: number, targets: Int32Array, excluded?: readonly ReadonlySet<number>[]): Float64Array {
  if (scores.length !== targets.length * vocabularySize) {
    throw new Error(
      `scores have ${scores.length} entries, expected ${targets.length} targets x ${vocabularySize} candidates = ${targets.length * vocabularySize}`,
    );
  }

  if (excluded !== undefined && excluded.length !== targets.length) {
    throw new Error(`excluded candidates are given for ${excluded.length} rows, expected one per target (${targets.length})`);
  }

  const ranks = new Float64Array(targets.length);
  for (let b = 0; b < targets.length; b++) {
    const target = targets[b]!;
    if (target < 0 || target >= vocabularySize) {
      throw new Error(`target ${target} of example ${b} is not a vocabulary id in [${PAD_ID}, ${vocabularySize - 1}]`);
    }
    if (target === PAD_ID) {
      ranks[b] = NaN;
      continue;
    }
    const skip = excluded?.[b];
    if (target === OOV_ID || skip?.has(target) === true) {
      ranks[b] = Infinity;
      continue;
    }

    const row = b * vocabularySize;
    const targetScore = scores[row + target]!;
    const isAhead = (w: number) => w !== target && !(scores[row + w]! < targetScore);
    let ahead = 0;
    for (let w = FIRST_VALUE_ID; w < vocabularySize; w++) {
      if (isAhead(w)) ahead++;
    }
    if (skip !== undefined) {
      for (const w of skip) {
        if (w >= FIRST_VALUE_ID && w < vocabularySize && isAhead(w)) ahead--;
      }
    }
    ranks[b] = 1 + ahead;
  }
  return ranks;
}

/**
 * Averages NDCG@K, Recall@K, Precision@K and MRR@K over examples with one target each.
 * For a target at rank r <= K, NDCG = 1 / log2(r + 1), Recall = 1, Precision = 1 / K and
 * MRR = 1 / r. A target ranked below K (or out of vocabulary) scores 0 on all four.
 * A NaN rank (no target) is left out, of the denominator too. With no examples every
 * metric is 0.
 */
export function metricsFromRanks(ranks: ArrayLike<number>, ks: readonly number[]): TaskMetrics {
  const metrics: TaskMetrics = {};
  let n = 0;
  for (let i = 0; i < ranks.length; i++) if (!Number.isNaN(ranks[i]!)) n++;
  for (const k of ks) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`metric cut-off K must be a positive integer, got ${k}`);
    let ndcg = 0;
    let hits = 0;
    let reciprocal = 0;
    for (let i = 0; i < ranks.length; i++) {
      const rank = ranks[i]!;
      if (!(rank <= k)) continue;
      ndcg += 1 / Math.log2(rank + 1);
      hits += 1;
      reciprocal += 1 / rank;
    }
    metrics[`ndcg@${k}`] = n === 0 ? 0 : ndcg / n;
    metrics[`recall@${k}`] = n === 0 ? 0 : hits / n;
    metrics[`precision@${k}`] = n === 0 ? 0 : hits / n / k;
    metrics[`mrr@${k}`] = n === 0 ? 0 : reciprocal / n;
  }
  metrics.examples = n;
  return metrics;
}

/** Ranks the targets in `scores` and averages the metrics at each K: the one scoring function of every model and baseline. */
export function rankingMetrics(scores: ArrayLike<number>, vocabularySize: number, targets: Int32Array, ks: readonly number[]): TaskMetrics {
  return metricsFromRanks(rankTargets(scores, vocabularySize, targets), ks);
}
