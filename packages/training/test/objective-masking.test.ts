import { describe, expect, it } from 'vitest';
import { SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION } from '@mcm/schema';
import type { TrainingData } from '../src/data/training-data.ts';
import { createSampler, type SampledBatch, type SamplerOptions } from '../src/samplers/batch-sampler.ts';
import { CAUSAL_SAMPLER } from '../src/samplers/causal-sampler.ts';
import { CLOZE_SAMPLER } from '../src/samplers/cloze-sampler.ts';
import { LAST_EVENT_SAMPLER } from '../src/samplers/last-event-sampler.ts';
import { RANDOM_PREFIX_SAMPLER } from '../src/samplers/random-prefix-sampler.ts';
import '../src/samplers/builtin-samplers.ts';
import { fixtureData, type FixtureCustomer, type FixtureEvent } from './helpers/dataset-fixture.ts';

// Every training event of a customer has its own category (2 + its index) and brand
// (2 + index mod 5). Held-out events use categories from HELD_OUT up. A value in an input
// therefore names the event it came from, so a label that leaks into the input shows.
const HELD_OUT = 60;
const VOCABULARIES = { category: 80, brand: 8 };
const MASK = { category: VOCABULARIES.category, brand: VOCABULARIES.brand };

function customers(count: number): FixtureCustomer[] {
  return Array.from({ length: count }, (_, c) => {
    const training = 2 + ((c * 7) % 40);
    const events: FixtureEvent[] = [];
    for (let i = 0; i < training; i++) events.push({ split: SPLIT_TRAIN, values: { category: 2 + i, brand: 2 + (i % 5) } });
    events.push({ split: SPLIT_VALIDATION, values: { category: HELD_OUT + (c % 10), brand: 7 } });
    events.push({ split: SPLIT_TEST, values: { category: HELD_OUT + 10 + (c % 10), brand: 7 } });
    return { id: `c${c}`, events };
  });
}

function options(overrides: Partial<SamplerOptions> = {}): SamplerOptions {
  return { batchSize: 8, maxLength: 16, features: ['category', 'brand'], tasks: ['category', 'brand'], seed: 3, bucketBatches: 2, ...overrides };
}

/** Returns the category id at input position t of row b. */
function inputCategory(sampled: SampledBatch, b: number, t: number): number {
  return sampled.batch.features.category!.ids[b * sampled.batch.length + t]!;
}

/** Training events of the row's customer, from the fixture's encoding. */
function trainingEvents(data: TrainingData, sampled: SampledBatch, b: number): number {
  const record = data.customers.find((customer) => customer.id === sampled.customerIds[b])!;
  return record.trainEnd - record.start;
}

describe('the Cloze sampler', () => {
  const data = fixtureData(customers(60), VOCABULARIES);

  it('hides every feature of each labelled event behind its mask token', () => {
    const sampler = createSampler(CLOZE_SAMPLER, data, options({ maskProbability: 0.3 }));
    for (let draw = 0; draw < 20; draw++) {
      const sampled = sampler.next();
      expect(sampled.labelLayout).toBe('positions');
      const { length, lengths } = sampled.batch;
      for (let b = 0; b < sampled.batch.batchSize; b++) {
        const events = trainingEvents(data, sampled, b);
        const first = events - lengths[b]!; // index of the customer's event at position 0
        let masked = 0;
        for (let t = 0; t < length; t++) {
          const i = b * length + t;
          const category = sampled.labels.category![i]!;
          const brand = sampled.labels.brand![i]!;
          if (t >= lengths[b]!) {
            expect(category, 'padding has no label').toBe(0);
            continue;
          }
          if (category === 0) {
            // Unmasked: the event as it is, and never a held-out one.
            expect(inputCategory(sampled, b, t)).toBe(2 + first + t);
            continue;
          }
          masked++;
          expect(category, 'the label is the event at the position').toBe(2 + first + t);
          expect(brand).toBe(2 + ((first + t) % 5));
          expect(sampled.batch.features.category!.ids[i], 'category is masked').toBe(MASK.category);
          expect(sampled.batch.features.brand!.ids[i], 'brand is masked too').toBe(MASK.brand);
        }
        expect(masked, 'at least one event is masked').toBeGreaterThan(0);
        expect(lengths[b], 'the window ends at the last training event').toBe(Math.min(events, 16));
      }
    }
  });

  it('masks about the requested share of events', () => {
    const sampler = createSampler(CLOZE_SAMPLER, data, options({ maskProbability: 0.25, batchSize: 32 }));
    let masked = 0;
    let events = 0;
    for (let draw = 0; draw < 10; draw++) {
      const sampled = sampler.next();
      for (const label of sampled.labels.category!) if (label !== 0) masked++;
      for (const n of sampled.batch.lengths) events += n;
    }
    // The one forced mask of short histories lifts the share a little above 0.25.
    expect(masked / events).toBeGreaterThan(0.22);
    expect(masked / events).toBeLessThan(0.34);
  });

  it('restores its exact position, masks included, from its state', () => {
    const first = createSampler(CLOZE_SAMPLER, data, options());
    first.next();
    first.next();
    first.next();
    const state = JSON.parse(JSON.stringify(first.getState())) as ReturnType<typeof first.getState>;
    const expected = [first.next(), first.next(), first.next()];

    const second = createSampler(CLOZE_SAMPLER, data, options());
    second.setState(state);
    for (const batch of expected) {
      const actual = second.next();
      expect(actual.customerIds).toEqual(batch.customerIds);
      expect(actual.batch.features.category!.ids).toEqual(batch.batch.features.category!.ids);
      expect(actual.labels.brand).toEqual(batch.labels.brand);
    }
  });
});

describe('the causal sampler', () => {
  const data = fixtureData(customers(60), VOCABULARIES);

  it('labels each position with the next event', () => {
    const sampler = createSampler(CAUSAL_SAMPLER, data, options());
    for (let draw = 0; draw < 20; draw++) {
      const sampled = sampler.next();
      expect(sampled.labelLayout).toBe('positions');
      const { length, lengths } = sampled.batch;
      for (let b = 0; b < sampled.batch.batchSize; b++) {
        const events = trainingEvents(data, sampled, b);
        const n = lengths[b]!;
        expect(n, 'the last training event is a label only').toBe(Math.min(events - 1, 16));
        const first = events - 1 - n;
        for (let t = 0; t < length; t++) {
          const label = sampled.labels.category![b * length + t]!;
          if (t >= n) {
            expect(label).toBe(0);
            continue;
          }
          expect(inputCategory(sampled, b, t)).toBe(2 + first + t);
          expect(label).toBe(2 + first + t + 1);
          for (let seen = 0; seen <= t; seen++) expect(inputCategory(sampled, b, seen)).not.toBe(label);
          expect(label, 'no held-out event is a label').toBeLessThan(HELD_OUT);
        }
      }
    }
  });
});

describe('next-event samplers', () => {
  const data = fixtureData(customers(60), VOCABULARIES);

  for (const name of [RANDOM_PREFIX_SAMPLER, LAST_EVENT_SAMPLER]) {
    it(`${name}: the label event is cut off the input`, () => {
      const sampler = createSampler(name, data, options());
      for (let draw = 0; draw < 20; draw++) {
        const sampled = sampler.next();
        expect(sampled.labelLayout ?? 'next').toBe('next');
        for (let b = 0; b < sampled.batch.batchSize; b++) {
          const n = sampled.batch.lengths[b]!;
          const label = sampled.labels.category![b]!;
          expect(label, 'the label is the event right after the input').toBe(inputCategory(sampled, b, n - 1) + 1);
          for (let t = 0; t < n; t++) expect(inputCategory(sampled, b, t)).not.toBe(label);
          expect(label).toBeLessThan(HELD_OUT);
          if (name === LAST_EVENT_SAMPLER) expect(label, 'the last training event').toBe(2 + trainingEvents(data, sampled, b) - 1);
        }
      }
    });
  }
});
