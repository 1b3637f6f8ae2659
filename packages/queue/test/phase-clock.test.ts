import { afterEach, describe, expect, it, vi } from 'vitest';
import { epochMs } from '../src/phase-clock.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('epochMs', () => {
  it('agrees with the wall clock', () => {
    expect(Math.abs(epochMs() - Date.now())).toBeLessThanOrEqual(2);
  });

  it('follows a wall-clock step', () => {
    const before = epochMs();
    // The system sets the clock 245 ms ahead, as a virtual machine catching up does.
    const stepped = Date.now() + 245;
    vi.spyOn(Date, 'now').mockReturnValue(stepped);
    const after = epochMs();
    expect(after).toBe(stepped);
    expect(after - before).toBeGreaterThan(244);
  });
});
