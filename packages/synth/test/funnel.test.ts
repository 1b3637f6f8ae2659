import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, readCustomerSequences, readGeneratorOutput, type CustomerSequence } from '../src/index.ts';
import { generateSample, type Sample } from './sample.ts';

const code = (name: (typeof EVENT_TYPES)[number]): number => EVENT_TYPES.indexOf(name);

describe('event funnel', () => {
  let sample: Sample;
  let sequences: CustomerSequence[];

  beforeAll(async () => {
    sample = await generateSample(5_000, { seed: 3 });
    const { catalog } = await readGeneratorOutput(sample.dir);
    sequences = await readCustomerSequences(sample.dir, catalog);
  });

  afterAll(async () => {
    await sample?.remove();
  });

  it('cart, wishlist and purchase follow a view', () => {
    let checked = 0;
    const violations: string[] = [];
    for (const sequence of sequences) {
      const viewedAt = new Map<number, number>();
      sequence.type.forEach((type, i) => {
        const item = sequence.item[i]!;
        if (type === code('view')) {
          if (!viewedAt.has(item)) viewedAt.set(item, sequence.time[i]!);
          return;
        }
        if (type !== code('cart') && type !== code('wishlist') && type !== code('purchase')) return;

        checked++;
        const viewed = viewedAt.get(item);
        if (viewed === undefined || viewed >= sequence.time[i]!) {
          violations.push(`${sequence.customerId}: ${EVENT_TYPES[type]} of item ${item} at ${sequence.time[i]}, first view at ${viewed}`);
        }
      });
    }

    expect(violations.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(5_000);
  });

  it('sign_up opens a new customer and a view of its item follows', () => {
    let signUps = 0;
    const violations: string[] = [];
    for (const sequence of sequences) {
      const positions = sequence.type.flatMap((type, i) => (type === code('sign_up') ? [i] : []));
      if (positions.length === 0) continue;
      signUps++;

      if (positions.length !== 1 || positions[0] !== 0) violations.push(`${sequence.customerId} signs up at positions ${positions}`);
      // A customer who joined in the last seconds of the range may have nothing after the sign-up.
      if (sequence.item.length > 1 && (sequence.type[1] !== code('view') || sequence.item[1] !== sequence.item[0])) {
        violations.push(`${sequence.customerId}: the sign-up is not followed by a view of its item`);
      }
    }

    expect(violations.slice(0, 5)).toEqual([]);
    // newCustomerFraction 0.2 of 5000 customers: 1000 expected, binomial sd about 28.
    expect(signUps).toBeGreaterThan(880);
    expect(signUps).toBeLessThan(1120);
  });

  it('camera_search is followed by a view of its item', () => {
    let searches = 0;
    const violations: string[] = [];
    for (const sequence of sequences) {
      sequence.type.forEach((type, i) => {
        if (type !== code('camera_search')) return;
        searches++;
        const next = i + 1 < sequence.type.length;
        if (next && (sequence.type[i + 1] !== code('view') || sequence.item[i + 1] !== sequence.item[i])) {
          violations.push(`${sequence.customerId}: camera_search at position ${i} is not followed by a view of its item`);
        }
      });
    }

    expect(violations.slice(0, 5)).toEqual([]);
    expect(searches).toBeGreaterThan(100);
  });

  it('event type shares are realistic', () => {
    const counts = sample.summary.counts.eventsByType;
    const total = sample.summary.counts.events;
    const share = (name: string): number => counts[name]! / total;

    expect(share('view')).toBeGreaterThan(0.85);
    expect(share('view')).toBeLessThan(0.93);
    expect(share('cart')).toBeGreaterThan(0.03);
    expect(share('cart')).toBeLessThan(0.08);
    expect(share('purchase')).toBeGreaterThan(0.012);
    expect(share('purchase')).toBeLessThan(0.035);
    expect(share('purchase')).toBeLessThan(share('cart'));
    expect(share('wishlist')).toBeGreaterThan(0.005);
    expect(share('camera_search')).toBeGreaterThan(0.002);
  });

  it('history lengths are heavy-tailed', () => {
    const lengths = sequences.map((sequence) => sequence.item.length).sort((a, b) => a - b);
    const median = lengths[Math.floor(lengths.length / 2)]!;
    const mean = lengths.reduce((sum, length) => sum + length, 0) / lengths.length;
    const p99 = lengths[Math.floor(lengths.length * 0.99)]!;

    expect(sequences).toHaveLength(5_000);
    expect(lengths[0]).toBeGreaterThanOrEqual(1);
    expect(mean / median, `mean ${mean} vs median ${median}`).toBeGreaterThan(1.5);
    expect(p99 / median, `99th percentile ${p99} vs median ${median}`).toBeGreaterThan(8);
  });

  it('consumables are bought again', () => {
    let repeated = 0;
    for (const sequence of sequences) {
      const bought = new Set<number>();
      sequence.type.forEach((type, i) => {
        if (type !== code('purchase')) return;
        if (bought.has(sequence.item[i]!)) repeated++;
        bought.add(sequence.item[i]!);
      });
    }
    expect(repeated).toBeGreaterThan(50);
  });
});
