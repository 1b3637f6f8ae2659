import type { SequenceBatch } from '@mcm/model';
import { FIRST_VALUE_ID, MISSING_VALUE } from '@mcm/schema';
import type { ScoringModel } from './scoring-model.ts';

/** One ranked candidate of a task. */
export interface RankedCandidate {
  id: number;
  score: number;
}

/**
 * Returns the `k` highest-scoring candidates of `task` for a one-customer batch, best
 * first, leaving out the ids in `exclude`. Ids 0 and 1 (padding, out-of-vocabulary) and
 * candidates with a non-finite score are never returned, so fewer than `k` come back
 * when the task has fewer candidates. Equal scores rank the lower id first.
 */
export async function rankCandidates(model: ScoringModel, batch: SequenceBatch, task: string, k: number, exclude: ReadonlySet<number>): Promise<RankedCandidate[]> {
  return topK(await model.scores(batch, task), k, exclude);
}

/** Selects the `k` largest finite scores from FIRST_VALUE_ID on, best first, ties by lower id. */
export function topK(scores: Float32Array, k: number, exclude: ReadonlySet<number>): RankedCandidate[] {
  // A sorted array of at most k entries: k is small (at most a few hundred), so an
  // insertion costs less than a heap's bookkeeping, and most candidates fail the
  // comparison with the current k-th score.
  const best: RankedCandidate[] = [];
  for (let id = FIRST_VALUE_ID; id < scores.length; id++) {
    const score = scores[id]!;
    if (!Number.isFinite(score) || exclude.has(id)) continue;
    if (best.length === k && score <= best[k - 1]!.score) continue;

    let position = best.length;
    while (position > 0 && best[position - 1]!.score < score) position--;
    best.splice(position, 0, { id, score });
    if (best.length > k) best.pop();
  }
  return best;
}

/**
 * Returns the ids top-K leaves out for a task whose id -> value table is `values`: the
 * `seen` ids, plus the id of the placeholder that the ingest writes for an event without
 * a value, which is never a useful recommendation.
 */
export function excludedCandidates(values: readonly string[], seen: ReadonlySet<number>): Set<number> {
  const exclude = new Set(seen);
  const missing = values.indexOf(MISSING_VALUE);
  if (missing >= FIRST_VALUE_ID) exclude.add(missing);
  return exclude;
}

/** Returns the customer embedding of a one-customer batch. */
export async function embedCustomer(model: ScoringModel, batch: SequenceBatch): Promise<number[]> {
  return Array.from(await model.embed(batch));
}

/** Collects every id of `feature` in the batch's real positions: the values the customer already has. */
export function historyValues(batch: SequenceBatch, feature: string): Set<number> {
  const column = batch.features[feature];
  if (column === undefined) throw new Error(`feature "${feature}" is not in the batch`);
  const values = new Set<number>();
  const length = batch.lengths[0]!;
  for (let i = 0; i < length * column.width; i++) {
    const id = column.ids[i]!;
    if (id >= FIRST_VALUE_ID) values.add(id);
  }
  return values;
}
