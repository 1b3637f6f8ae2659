import { InvalidArgumentError } from 'commander';

/**
 * Returns the decimal integer `value` spells, else NaN. Number() alone would also take
 * "", " 5", "0x10" and "1e2" (as 0, 5, 16 and 100).
 */
function decimalInteger(value: string): number {
  return /^[+-]?\d+$/.test(value) ? Number(value) : Number.NaN;
}

/** Returns the number `value` spells, else NaN; Number() alone would take "" and " " as 0. */
function decimalNumber(value: string): number {
  return value.trim() === '' ? Number.NaN : Number(value);
}

/** Returns a commander parser of an integer of at least `minimum`. */
export function integerAtLeast(minimum: number): (value: string) => number {
  return (value) => {
    const parsed = decimalInteger(value);
    if (!Number.isInteger(parsed) || parsed < minimum) throw new InvalidArgumentError(`expected an integer >= ${minimum}, got "${value}"`);
    return parsed;
  };
}

/** Returns a commander parser of an integer in [minimum, maximum]. */
export function integerBetween(minimum: number, maximum: number): (value: string) => number {
  return (value) => {
    const parsed = decimalInteger(value);
    if (!Number.isInteger(parsed) || parsed < minimum || parsed > maximum) {
      throw new InvalidArgumentError(`expected an integer in [${minimum}, ${maximum}], got "${value}"`);
    }
    return parsed;
  };
}

/** Returns a commander parser of a number in [minimum, maximum]. */
export function numberBetween(minimum: number, maximum: number): (value: string) => number {
  return (value) => {
    const parsed = decimalNumber(value);
    if (!Number.isFinite(parsed) || parsed < minimum || parsed > maximum) {
      throw new InvalidArgumentError(`expected a number in [${minimum}, ${maximum}], got "${value}"`);
    }
    return parsed;
  };
}

/** Returns a commander parser of a number greater than 0. */
export function positiveNumber(value: string): number {
  const parsed = decimalNumber(value);
  if (!(parsed > 0)) throw new InvalidArgumentError(`expected a number > 0, got "${value}"`);
  return parsed;
}

/** Returns a commander parser of a comma-separated list of names. */
export function nameList(value: string): string[] {
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0) throw new InvalidArgumentError(`expected a comma-separated list of names, got "${value}"`);
  return names;
}

/** Returns a commander parser of metric cut-offs such as "10,20". */
export function cutoffList(value: string): number[] {
  const ks = value.split(',').map((part) => Number(part.trim()));
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new InvalidArgumentError(`expected comma-separated positive integers such as "10,20", got "${value}"`);
  }
  return [...new Set(ks)].sort((a, b) => a - b);
}

/** Returns a commander parser that accepts one of `choices`. */
export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!choices.includes(value as T)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got "${value}"`);
    return value as T;
  };
}
