import { describe, expect, it } from 'vitest';
import { metricsFromRanks, rankingMetrics, rankTargets } from '../src/evaluation/ranking-metrics.ts';

// Vocabulary of 6: ids 0 (padding) and 1 (out of vocabulary) are never candidates, so
// the candidates are ids 2..5.
const V = 6;
const NEG = -Infinity;

describe('rankTargets', () => {
  it('ranks a best-scored target first', () => {
    const scores = [NEG, NEG, 0.9, 0.5, 0.1, 0.2];
    expect(Array.from(rankTargets(scores, V, Int32Array.of(2)))).toEqual([1]);
  });

  it('ranks a target with two better candidates third', () => {
    const scores = [NEG, NEG, 0.9, 0.5, 0.1, 0.7];
    expect(Array.from(rankTargets(scores, V, Int32Array.of(3)))).toEqual([3]);
  });

  it('ranks ties pessimistically', () => {
    // Target 4 ties with 3 and 5 at 0.5, below 2: every tied candidate counts as ahead.
    const scores = [NEG, NEG, 0.9, 0.5, 0.5, 0.5];
    expect(Array.from(rankTargets(scores, V, Int32Array.of(4)))).toEqual([4]);
  });

  it('gives a constant scorer the last rank', () => {
    const scores = [0, 0, 0, 0, 0, 0];
    expect(Array.from(rankTargets(scores, V, Int32Array.of(2)))).toEqual([4]);
  });

  it('ignores the scores of padding and out-of-vocabulary ids', () => {
    const scores = [5, 5, 0.1, 0, 0, 0];
    expect(Array.from(rankTargets(scores, V, Int32Array.of(2)))).toEqual([1]);
  });

  it('counts an out-of-vocabulary target as a miss', () => {
    const scores = [NEG, 100, 0.9, 0.5, 0.1, 0.2];
    expect(Array.from(rankTargets(scores, V, Int32Array.of(1)))).toEqual([Infinity]);
  });

  it('counts NaN candidates as ahead of the target', () => {
    const scores = [NEG, NEG, 0.9, NaN, 0.1, 0.2];
    expect(Array.from(rankTargets(scores, V, Int32Array.of(2)))).toEqual([2]);
  });

  it('leaves a padding target without a rank', () => {
    expect(Number.isNaN(rankTargets([0, 0, 1, 2, 3, 4], V, Int32Array.of(0))[0])).toBe(true);
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => rankTargets([0, 0, 1, 2, 3, 4], V, Int32Array.of(6))).toThrow(/target 6 of example 0 is not a vocabulary id/);
  });

  it('skips excluded candidates ahead of the target', () => {
    // Target 3 scores 0.5; 2 and 5 score higher, and 2 is excluded: only 5 stays ahead.
    const scores = [NEG, NEG, 0.9, 0.5, 0.1, 0.7];
    expect(Array.from(rankTargets(scores, V, Int32Array.of(3), [new Set([2, 4])]))).toEqual([2]);
  });

  it('counts an excluded target as a miss', () => {
    const scores = [NEG, NEG, 0.9, 0.5, 0.1, 0.7];
    expect(Array.from(rankTargets(scores, V, Int32Array.of(2), [new Set([2])]))).toEqual([Infinity]);
  });

  it('rejects exclusions of another row count', () => {
    expect(() => rankTargets([0, 0, 1, 2, 3, 4], V, Int32Array.of(2), [])).toThrow(/excluded candidates are given for 0 rows, expected one per target \(1\)/);
  });

  it('rejects a score array of the wrong size', () => {
    expect(() => rankTargets([0, 0, 1], V, Int32Array.of(2))).toThrow(/expected 1 targets x 6 candidates/);
  });
});

describe('rankingMetrics', () => {
  // Four examples: ranks 1, 3, a miss beyond K = 2 (rank 4), and an OOV target.
  const scores = [
    [NEG, NEG, 0.9, 0.5, 0.1, 0.2], // target 2: rank 1
    [NEG, NEG, 0.9, 0.5, 0.1, 0.7], // target 3: rank 3
    [NEG, NEG, 0.9, 0.5, 0.1, 0.7], // target 4: rank 4
    [NEG, NEG, 0.9, 0.5, 0.1, 0.7], // target 1 (OOV): miss
  ].flat();
  const targets = Int32Array.of(2, 3, 4, 1);

  it('computes NDCG, recall, precision and MRR at K = 3', () => {
    const metrics = rankingMetrics(scores, V, targets, [3]);
    expect(metrics['ndcg@3']).toBeCloseTo((1 / Math.log2(2) + 1 / Math.log2(4)) / 4, 12);
    expect(metrics['recall@3']).toBeCloseTo(2 / 4, 12);
    expect(metrics['precision@3']).toBeCloseTo(2 / 4 / 3, 12);
    expect(metrics['mrr@3']).toBeCloseTo((1 + 1 / 3) / 4, 12);
    expect(metrics.examples).toBe(4);
  });

  it('computes every requested K', () => {
    const metrics = rankingMetrics(scores, V, targets, [1, 4]);
    expect(metrics['recall@1']).toBeCloseTo(1 / 4, 12);
    expect(metrics['ndcg@1']).toBeCloseTo(1 / 4, 12);
    expect(metrics['recall@4']).toBeCloseTo(3 / 4, 12);
    expect(metrics['ndcg@4']).toBeCloseTo((1 + 1 / Math.log2(4) + 1 / Math.log2(5)) / 4, 12);
    expect(metrics['mrr@4']).toBeCloseTo((1 + 1 / 3 + 1 / 4) / 4, 12);
  });

  it('keeps OOV targets in the denominator', () => {
    const withOov = rankingMetrics(scores, V, targets, [3]);
    const withoutOov = rankingMetrics(scores.slice(0, 3 * V), V, targets.slice(0, 3), [3]);
    expect(withOov['recall@3']).toBeCloseTo(2 / 4, 12);
    expect(withoutOov['recall@3']).toBeCloseTo(2 / 3, 12);
  });

  it('makes precision equal to recall divided by K', () => {
    const metrics = rankingMetrics(scores, V, targets, [2]);
    expect(metrics['precision@2']).toBeCloseTo(metrics['recall@2']! / 2, 12);
  });
});

describe('metricsFromRanks', () => {
  it('returns zeros without examples', () => {
    expect(metricsFromRanks([], [10])).toEqual({ 'ndcg@10': 0, 'recall@10': 0, 'precision@10': 0, 'mrr@10': 0, examples: 0 });
  });

  it('leaves NaN ranks out of the denominator', () => {
    const metrics = metricsFromRanks([1, NaN], [10]);
    expect(metrics.examples).toBe(1);
    expect(metrics['recall@10']).toBe(1);
  });

  it('rejects a cut-off below 1', () => {
    expect(() => metricsFromRanks([1], [0])).toThrow(/K must be a positive integer, got 0/);
  });
});
