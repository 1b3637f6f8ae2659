import { Random } from '@mcm/common';
import { describe, expect, it } from 'vitest';
import { AliasTable, zipfWeights } from '../src/index.ts';

describe('AliasTable', () => {
  it('draws in proportion to the weights', () => {
    const weights = [5, 0, 1, 3, 1];
    const table = new AliasTable(weights);
    const random = new Random(42);
    const counts = new Array<number>(weights.length).fill(0);
    const draws = 200_000;
    for (let i = 0; i < draws; i++) counts[table.sample(random)]!++;

    // Standard error of a share near 0.5 over 200k draws is about 0.0011.
    weights.forEach((weight, i) => expect(Math.abs(counts[i]! / draws - weight / 10), `index ${i}`).toBeLessThan(0.005));
    expect(counts[1]).toBe(0);
  });

  it('rejects empty, negative and all-zero weights', () => {
    expect(() => new AliasTable([])).toThrow('AliasTable needs at least one weight, got none');
    expect(() => new AliasTable([1, -1])).toThrow('AliasTable weights must be finite and non-negative, got -1 at index 1');
    expect(() => new AliasTable([0, 0])).toThrow('AliasTable weights must not all be zero (2 weights)');
  });

  it('zipf weights fall as a power of rank', () => {
    expect(Array.from(zipfWeights(4, 1))).toEqual([1, 1 / 2, 1 / 3, 1 / 4]);
    expect(Array.from(zipfWeights(3, 0))).toEqual([1, 1, 1]);
  });
});
