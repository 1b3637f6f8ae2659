import { describe, expect, it } from 'vitest';
import { Random } from '../src/random.ts';

describe('Random', () => {
  it('repeats its sequence for the same seed', () => {
    const a = new Random(42);
    const b = new Random(42);
    const first = Array.from({ length: 100 }, () => a.nextUint32());
    const second = Array.from({ length: 100 }, () => b.nextUint32());
    expect(second).toEqual(first);
  });

  it('differs between seeds', () => {
    const a = new Random(1);
    const b = new Random(2);
    expect(a.nextUint32()).not.toBe(b.nextUint32());
  });

  it('resumes exactly from a saved state', () => {
    const random = new Random(7);
    for (let i = 0; i < 13; i++) random.next();
    const restored = new Random(random.getState());
    const expected = Array.from({ length: 50 }, () => random.next());
    const actual = Array.from({ length: 50 }, () => restored.next());
    expect(actual).toEqual(expected);
  });

  it('draws integers uniformly in range', () => {
    const random = new Random(3);
    const counts = new Array<number>(5).fill(0);
    for (let i = 0; i < 50_000; i++) counts[random.int(5)]! += 1;
    for (const count of counts) {
      expect(count).toBeGreaterThan(9_500);
      expect(count).toBeLessThan(10_500);
    }
  });

  it('rejects a non-positive range', () => {
    expect(() => new Random(1).int(0)).toThrow('Random.int needs n > 0, got 0');
  });

  it('rejects a state of the wrong size', () => {
    expect(() => new Random([1, 2, 3])).toThrow('Random state must have 4 words, got 3');
  });
});
