import { describe, expect, test } from 'vitest';
import { integerAtLeast, integerBetween, numberBetween, positiveNumber } from '../src/option-parsers.ts';

describe('option parsers', () => {
  test('integers accept only decimal digits', () => {
    expect(integerAtLeast(0)('42')).toBe(42);
    expect(integerBetween(0, 1000)('1000')).toBe(1000);
    // Number() would read these as 0, 5, 16 and 100.
    for (const value of ['', ' 5', '0x10', '1e2', '12.5', 'abc']) {
      expect(() => integerAtLeast(0)(value), value).toThrow(`expected an integer >= 0, got "${value}"`);
    }
  });

  test('integer ranges name both bounds', () => {
    expect(() => integerBetween(0, 1000)('1001')).toThrow('expected an integer in [0, 1000], got "1001"');
    expect(() => integerBetween(0, 1000)('-1')).toThrow('expected an integer in [0, 1000], got "-1"');
  });

  test('numbers reject blank values', () => {
    expect(numberBetween(0, 1)('0.5')).toBe(0.5);
    expect(positiveNumber('1e-3')).toBe(0.001);
    expect(() => numberBetween(0, 1)('')).toThrow('expected a number in [0, 1], got ""');
    expect(() => positiveNumber(' ')).toThrow('expected a number > 0, got " "');
  });
});
