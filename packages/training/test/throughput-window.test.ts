import { describe, expect, it } from 'vitest';
import { ThroughputWindow } from '../src/throughput-window.ts';

describe('ThroughputWindow', () => {
  it('averages over steps, not the last one', () => {
    const window = new ThroughputWindow(5);

    // One slow step of 64 sequences in 4 s, then a fast one in 0.05 s: the last step
    // alone would give 1280/s, the window gives 128 sequences in 4.05 s.
    window.add(64, 4);
    window.add(64, 0.05);

    expect(window.rate()).toBeCloseTo(128 / 4.05, 6);
  });

  it('drops steps older than the window', () => {
    const window = new ThroughputWindow(5);
    window.add(1000, 1);
    for (let step = 0; step < 5; step++) window.add(10, 1);

    // The five 1-second steps fill the window, so the 1000-sequence step is gone.
    expect(window.rate()).toBeCloseTo(10, 6);
  });

  it('keeps one step longer than the window', () => {
    const window = new ThroughputWindow(5);
    window.add(10, 1);
    window.add(60, 6);

    expect(window.rate()).toBeCloseTo(10, 6);
  });

  it('returns 0 before the first step', () => {
    expect(new ThroughputWindow(5).rate()).toBe(0);
  });

  it('rejects a window of 0 seconds', () => {
    expect(() => new ThroughputWindow(0)).toThrow('windowSeconds must be greater than 0, got 0');
  });
});
