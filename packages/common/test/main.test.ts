import { describe, expect, it } from 'vitest';
import { describeFailure } from '../src/main.ts';

describe('describeFailure', () => {
  it('prints one line for an expected error', () => {
    const text = describeFailure('mcm-pipeline', new Error('data root /x is not a directory; pass --data-root'), false);

    expect(text).toBe('mcm-pipeline: data root /x is not a directory; pass --data-root');
  });

  it('adds the stack and cause with debug', () => {
    const error = new Error('outer failure', { cause: new Error('inner cause') });

    const lines = describeFailure('mcm-trainer', error, true).split('\n');

    expect(lines[0]).toBe('mcm-trainer: outer failure');
    expect(lines[1]).toBe('Error: outer failure');
    expect(lines.some((line) => line.trimStart().startsWith('at '))).toBe(true);
    expect(lines.some((line) => line.includes('inner cause'))).toBe(true);
  });

  it('adds the stack for a bug', () => {
    let bug: unknown;
    try {
      const missing = undefined as unknown as { field: number };
      bug = missing.field;
    } catch (error) {
      bug = error;
    }

    const lines = describeFailure('mcm-serving', bug, false).split('\n');

    expect(lines[0]).toMatch(/^mcm-serving: Cannot read properties of undefined/);
    expect(lines[1]).toMatch(/^TypeError: Cannot read properties of undefined/);
    expect(lines.some((line) => line.includes('main.test.ts'))).toBe(true);
  });

  it('prints a thrown string as is', () => {
    expect(describeFailure('mcm-pipeline', 'plain text', true)).toBe('mcm-pipeline: plain text');
  });
});
