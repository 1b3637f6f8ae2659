import { describe, expect, it } from 'vitest';
import { excludedCandidates, historyValues, topK } from '../src/predictions.ts';
import { describeSchemaError } from '../src/validation-messages.ts';

describe('topK', () => {
  const scores = Float32Array.from([-Infinity, -Infinity, 0.5, 2, -1, 2, 7, NaN, 3]);

  it('ranks the best first', () => {
    expect(topK(scores, 3, new Set())).toEqual([
      { id: 6, score: 7 },
      { id: 8, score: 3 },
      { id: 3, score: 2 },
    ]);
  });

  it('breaks ties by lower id', () => {
    expect(topK(scores, 4, new Set()).map((candidate) => candidate.id)).toEqual([6, 8, 3, 5]);
    expect(topK(Float32Array.from([0, 0, 1, 1, 1]), 2, new Set()).map((candidate) => candidate.id)).toEqual([2, 3]);
  });

  it('skips padding, out-of-vocabulary and non-finite scores', () => {
    expect(topK(scores, 100, new Set()).map((candidate) => candidate.id)).toEqual([6, 8, 3, 5, 2, 4]);
  });

  it('leaves out excluded ids', () => {
    expect(topK(scores, 2, new Set([6, 3])).map((candidate) => candidate.id)).toEqual([8, 5]);
  });

  it('matches a full sort on random scores', () => {
    let state = 12345;
    const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296);
    const values = Float32Array.from({ length: 500 }, () => Math.round(random() * 50) / 10);
    const sorted = Array.from(values.slice(2), (score, i) => ({ id: i + 2, score })).sort((a, b) => b.score - a.score || a.id - b.id);
    expect(topK(values, 25, new Set())).toEqual(sorted.slice(0, 25));
  });
});

describe('historyValues', () => {
  it('collects real positions only', () => {
    const batch = {
      batchSize: 1,
      length: 4,
      lengths: Int32Array.of(3),
      features: { category: { ids: Int32Array.of(5, 1, 5, 9), width: 1 }, genre: { ids: Int32Array.of(2, 3, 0, 0, 4, 0, 8, 8), width: 2 } },
    };
    expect([...historyValues(batch, 'category')].sort()).toEqual([5]);
    expect([...historyValues(batch, 'genre')].sort()).toEqual([2, 3, 4]);
  });
});

describe('describeSchemaError', () => {
  it('names nested fields', () => {
    const message = describeSchemaError({ keyword: 'required', instancePath: '/events/2', params: { missingProperty: 'item_id' } }, 'body');
    expect(message).toBe('body.events[2] is missing the required field "item_id"');
  });

  it('lists allowed fields', () => {
    const message = describeSchemaError(
      { keyword: 'additionalProperties', instancePath: '', params: { additionalProperty: 'x' }, parentSchema: { properties: { task: {}, k: {} } } },
      'body',
    );
    expect(message).toBe('body has unknown field "x"; allowed fields: task, k');
  });
});

describe('excludedCandidates', () => {
  it('adds the missing-value placeholder to the seen ids', () => {
    const values = ['<pad>', '<oov>', 'shoes', '<missing>', 'hats'];
    expect([...excludedCandidates(values, new Set([4]))].sort()).toEqual([3, 4]);
    expect([...excludedCandidates(['<pad>', '<oov>', 'shoes'], new Set())]).toEqual([]);
  });
});
