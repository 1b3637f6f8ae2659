import { describe, expect, it } from 'vitest';
import { OOV_ID, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION } from '@mcm/schema';
import { lastValueScorer } from '../src/baselines/last-value.ts';
import { popularityScorer, trainingFrequencies } from '../src/baselines/popularity.ts';
import { evaluateScorer, meanNdcg } from '../src/evaluation/evaluate.ts';
import { buildEvaluationSet, sampleEvaluationSet } from '../src/evaluation/evaluation-examples.ts';
import { fixtureData, type FixtureEvent } from './helpers/dataset-fixture.ts';

const T = SPLIT_TRAIN;
const V = SPLIT_VALIDATION;
const X = SPLIT_TEST;
const VOCABULARIES = { category: 8 };

function events(...pairs: Array<[number, number]>): FixtureEvent[] {
  return pairs.map(([split, category]) => ({ split: split as FixtureEvent['split'], values: { category } }));
}

// a: 3 training events, 2 validation, 1 test. b: starts in validation (its first event has
// no history). c: only training events. d: training, then a test event of a category
// never seen in training (OOV).
const data = fixtureData(
  [
    { id: 'a', events: events([T, 2], [T, 3], [T, 2], [V, 4], [V, 5], [X, 6]) },
    { id: 'b', events: events([V, 3], [V, 2], [X, 2]) },
    { id: 'c', events: events([T, 2], [T, 2]) },
    { id: 'd', events: events([T, 3], [X, OOV_ID]) },
  ],
  VOCABULARIES,
);

describe('buildEvaluationSet', () => {
  it('takes the first validation event with a history per customer', () => {
    const set = buildEvaluationSet(data, 'validation', 'first', 10);
    expect(set.examples.map((example) => example.customerId)).toEqual(['a', 'b']);
    const [a, b] = set.examples;
    // a's target is its 4th event, with its 3 training events as history.
    expect(a!.ref.end - a!.ref.start).toBe(3);
    expect(a!.ref.shard.features.category!.values[a!.ref.end as number] as number).toBe(4);
    // b's first validation event has no history, so its second one is the target.
    expect(b!.ref.end - b!.ref.start).toBe(1);
    expect(set.eventsWithoutHistory).toBe(1);
    expect(set.laterEventsSkipped).toBe(1);
    expect(set.customers).toBe(2);
  });

  it('takes every validation event with a history', () => {
    const set = buildEvaluationSet(data, 'validation', 'all', 10);
    expect(set.examples.map((example) => example.customerId)).toEqual(['a', 'a', 'b']);
    // a's second validation target has the first validation event in its history.
    expect(set.examples[1]!.ref.end - set.examples[1]!.ref.start).toBe(4);
  });

  it('gives test targets every earlier event as history', () => {
    const set = buildEvaluationSet(data, 'test', 'first', 10);
    expect(set.examples.map((example) => example.customerId)).toEqual(['a', 'b', 'd']);
    expect(set.examples.map((example) => example.ref.end - example.ref.start)).toEqual([5, 2, 1]);
  });

  it('cuts the history to maxLength', () => {
    const set = buildEvaluationSet(data, 'test', 'first', 2);
    expect(set.examples.map((example) => example.ref.end - example.ref.start)).toEqual([2, 2, 1]);
  });

  it('samples a deterministic subset', () => {
    const set = buildEvaluationSet(data, 'test', 'first', 10);
    const first = sampleEvaluationSet(set, 2, 7);
    const second = sampleEvaluationSet(set, 2, 7);
    expect(first.examples.length).toBe(2);
    expect(first.examples.map((example) => example.customerId)).toEqual(second.examples.map((example) => example.customerId));
    expect(sampleEvaluationSet(set, 10, 7)).toBe(set);
  });
});

describe('baselines', () => {
  const options = { features: ['category'], tasks: ['category'], vocabularySizes: VOCABULARIES, ks: [1, 3], batchSize: 2 };

  it('counts training-period frequencies only', () => {
    // Training events: a 2,3,2; c 2,2; d 3.
    expect(Array.from(trainingFrequencies(data, 'category'))).toEqual([0, 0, 4, 2, 0, 0, 0, 0]);
  });

  it('scores popularity with OOV targets as misses', () => {
    const set = buildEvaluationSet(data, 'test', 'first', 10);
    const metrics = evaluateScorer(popularityScorer(data, ['category']), set.examples, options).category!;
    // Targets: a 6 (frequency 0, tied with 4, 5, 7: rank 6), b 2 (rank 1), d OOV (miss).
    expect(metrics.examples).toBe(3);
    expect(metrics['recall@1']).toBeCloseTo(1 / 3, 12);
    expect(metrics['ndcg@3']).toBeCloseTo(1 / 3, 12);
    expect(metrics['mrr@3']).toBeCloseTo(1 / 3, 12);
  });

  it('ranks the last value first, then by popularity', () => {
    const set = buildEvaluationSet(data, 'validation', 'all', 10);
    const scorer = lastValueScorer(data, ['category']);
    const metrics = evaluateScorer(scorer, set.examples, options).category!;
    // Targets: a 4 after last value 2 (rank 3: 2, 3 ahead, then 4 tied with 5, 6, 7 -> 6),
    // a 5 after 4 (4 first, then 2, 3, then 5 tied with 6, 7 -> rank 6), b 2 after 3 (3, then 2: rank 2).
    expect(metrics['recall@3']).toBeCloseTo(1 / 3, 12);
    expect(metrics['mrr@3']).toBeCloseTo(1 / 2 / 3, 12);
  });

  it('excludes seen values beyond the window', () => {
    // At maxLength 1, customer a's window before test target 6 is its validation event 5,
    // but its whole history is 2, 3, 2, 4, 5. Popularity ranks 2 and 3 first, and 6 ties
    // with 4, 5 and 7, so its rank is 6. Without the seen values only 7 ties: rank 2.
    const set = buildEvaluationSet(data, 'test', 'first', 1);
    const a = set.examples.filter((example) => example.customerId === 'a');
    expect(a[0]!.ref.end - a[0]!.ref.start).toBe(1);
    const scorer = popularityScorer(data, ['category']);
    const all = evaluateScorer(scorer, a, { ...options, ks: [10] }).category!;
    const unseen = evaluateScorer(scorer, a, { ...options, ks: [10], excludeSeen: true }).category!;
    expect(all['mrr@10']).toBeCloseTo(1 / 6, 12);
    expect(unseen['mrr@10']).toBeCloseTo(1 / 2, 12);
  });

  it('misses a repeated seen target', () => {
    // b's test target 2 repeats its validation value 2, so it can never be recommended.
    const set = buildEvaluationSet(data, 'test', 'first', 10);
    const b = set.examples.filter((example) => example.customerId === 'b');
    const metrics = evaluateScorer(popularityScorer(data, ['category']), b, { ...options, excludeSeen: true }).category!;
    expect(metrics.examples).toBe(1);
    expect(metrics['recall@3']).toBe(0);
  });

  it('averages NDCG over tasks', () => {
    expect(meanNdcg({ a: { 'ndcg@10': 0.2 }, b: { 'ndcg@10': 0.4 } }, 10)).toBeCloseTo(0.3, 12);
  });
});
