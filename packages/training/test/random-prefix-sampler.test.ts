import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION } from '@mcm/schema';
import { loadTrainingData, type TrainingData } from '../src/data/training-data.ts';
import { createSampler, registeredSamplers, type SamplerOptions } from '../src/samplers/batch-sampler.ts';
import { RANDOM_PREFIX_SAMPLER } from '../src/samplers/random-prefix-sampler.ts';
import '../src/samplers/builtin-samplers.ts';
import { buildManifest, buildShard, fixtureData, writeDataset, type FixtureCustomer, type FixtureEvent } from './helpers/dataset-fixture.ts';

const VOCABULARIES = { category: 40, brand: 12 };

/** Customers of every shape the sampler meets, with event values that encode their split. */
function mixedCustomers(count: number): FixtureCustomer[] {
  const customers: FixtureCustomer[] = [];
  let state = 12345;
  const random = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 4294967296;
  };
  for (let c = 0; c < count; c++) {
    // Every tenth customer has no training event, and the next one a single training event.
    let trainEvents = 2 + Math.floor(random() * 30);
    if (c % 10 === 0) trainEvents = 0;
    if (c % 10 === 1) trainEvents = 1;
    const heldOut = Math.floor(random() * 4);
    const events: FixtureEvent[] = [];
    // Training events use categories 2..19, held-out events 20..39, so a leak shows in the values too.
    for (let i = 0; i < trainEvents; i++) events.push({ split: SPLIT_TRAIN, values: { category: 2 + Math.floor(random() * 18), brand: 2 } });
    for (let i = 0; i < heldOut; i++) {
      const split = i % 2 === 0 ? SPLIT_VALIDATION : SPLIT_TEST;
      events.push({ split, values: { category: 20 + Math.floor(random() * 20), brand: 3 } });
    }
    // A training event after a held-out one, which a time split never produces: it must not be used either.
    if (c % 10 === 2 && heldOut > 0) events.push({ split: SPLIT_TRAIN, values: { category: 20, brand: 4 } });
    if (events.length > 0) customers.push({ id: `customer-${c}`, events });
  }
  return customers;
}

function options(overrides: Partial<SamplerOptions> = {}): SamplerOptions {
  return { batchSize: 16, maxLength: 8, features: ['category', 'brand'], tasks: ['category', 'brand'], seed: 3, bucketBatches: 4, ...overrides };
}

const directories: string[] = [];
afterAll(async () => {
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
});

describe('random prefix sampler', () => {
  const customers = mixedCustomers(300);
  const data = fixtureData(customers, VOCABULARIES, 3);

  it('is registered by name', () => {
    expect(registeredSamplers()).toContain(RANDOM_PREFIX_SAMPLER);
    expect(() => createSampler('gru4rec', data, options())).toThrow(/unknown sampler "gru4rec"; registered samplers: causal, cloze, last-event, random-prefix/);
  });

  it('never puts a held-out event in a prefix or a label', () => {
    const violations: string[] = [];
    let examples = 0;
    for (const bucketBatches of [0, 4]) {
      const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, options({ bucketBatches }));
      for (let i = 0; i < 300; i++) {
        const sampled = sampler.next();
        sampled.examples.forEach((ref, b) => {
          examples++;
          for (let e = ref.start; e <= ref.end; e++) {
            if (ref.shard.split[e] !== SPLIT_TRAIN) violations.push(`customer ${sampled.customerIds[b]}: event ${e} has split ${ref.shard.split[e]}`);
          }
          if (sampled.labels.category![b]! >= 20) violations.push(`customer ${sampled.customerIds[b]}: held-out category label`);
          if (sampled.labels.brand![b] !== 2) violations.push(`customer ${sampled.customerIds[b]}: held-out brand label`);
        });
        for (const id of sampled.batch.features.category!.ids) if (id >= 20) violations.push(`held-out category ${id} in an input`);
      }
    }
    expect(examples).toBe(2 * 300 * 16);
    expect(violations).toEqual([]);
  });

  it('counts customers without a training example and never samples them', () => {
    const leadingTraining = (customer: FixtureCustomer) => {
      const firstHeldOut = customer.events.findIndex((event) => event.split !== SPLIT_TRAIN);
      return firstHeldOut === -1 ? customer.events.length : firstHeldOut;
    };
    const none = customers.filter((customer) => leadingTraining(customer) === 0).length;
    expect(none).toBeGreaterThan(0);
    expect(data.stats.noTrainingEvent).toBe(none);
    expect(data.stats.singleTrainingEvent).toBe(30);
    expect(data.stats.customersWithExamples).toBe(customers.length - 30 - none);
    expect(data.stats.trainingEventsAfterHeldOut).toBeGreaterThan(0);

    const single = new Set(data.customers.filter((record) => record.trainEnd - record.start === 1).map((record) => record.id));
    const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, options());
    for (let i = 0; i < 100; i++) for (const id of sampler.next().customerIds) expect(single.has(id)).toBe(false);
  });

  it('visits every trainable customer once per epoch', () => {
    const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, options({ batchSize: data.trainable.length, bucketBatches: 0 }));
    const ids = sampler.next().customerIds;
    expect(new Set(ids).size).toBe(data.trainable.length);
  });

  it('draws every valid prefix length', () => {
    const record = data.customers.find((candidate) => candidate.trainEnd - candidate.start === 5)!;
    const oneCustomer = { ...data, trainable: Int32Array.of(data.customers.indexOf(record)) };
    const sampler = createSampler(RANDOM_PREFIX_SAMPLER, oneCustomer, options({ batchSize: 1, bucketBatches: 0, maxLength: 50 }));
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(sampler.next().examples[0]!.end - record.start);
    expect([...seen].sort()).toEqual([1, 2, 3, 4]);
  });

  it('keeps the most recent maxLength events of a long prefix', () => {
    const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, options({ maxLength: 3 }));
    for (let i = 0; i < 50; i++) {
      const sampled = sampler.next();
      expect(sampled.batch.length).toBeLessThanOrEqual(3);
      for (const ref of sampled.examples) {
        const record = data.customers.find((candidate) => candidate.shard === data.shards.indexOf(ref.shard) && candidate.customer === ref.customer)!;
        expect(ref.start).toBe(Math.max(record.start, ref.end - 3));
      }
    }
  });

  it('repeats the same batches for the same seed', () => {
    const a = createSampler(RANDOM_PREFIX_SAMPLER, data, options());
    const b = createSampler(RANDOM_PREFIX_SAMPLER, data, options());
    const c = createSampler(RANDOM_PREFIX_SAMPLER, data, options({ seed: 4 }));
    let differs = false;
    for (let i = 0; i < 40; i++) {
      const first = a.next();
      expect(b.next().customerIds).toEqual(first.customerIds);
      if (c.next().customerIds.join() !== first.customerIds.join()) differs = true;
    }
    expect(differs).toBe(true);
  });

  it('continues exactly from a restored state', () => {
    const original = createSampler(RANDOM_PREFIX_SAMPLER, data, options());
    for (let i = 0; i < 37; i++) original.next();
    const state = JSON.parse(JSON.stringify(original.getState()));
    const restored = createSampler(RANDOM_PREFIX_SAMPLER, data, options());
    restored.setState(state);
    for (let i = 0; i < 40; i++) {
      const expected = original.next();
      const actual = restored.next();
      expect(actual.customerIds).toEqual(expected.customerIds);
      expect(actual.examples.map((ref) => ref.end)).toEqual(expected.examples.map((ref) => ref.end));
    }
  });

  it('groups similar lengths when bucketing', () => {
    const padding = (bucketBatches: number) => {
      const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, options({ bucketBatches, maxLength: 40 }));
      let padded = 0;
      for (let i = 0; i < 64; i++) {
        const { batch } = sampler.next();
        for (const length of batch.lengths) padded += batch.length - length;
      }
      return padded;
    };
    expect(padding(8)).toBeLessThan(padding(0) / 2);
  });

  it('rejects a dataset without training examples', () => {
    const lonely = fixtureData([{ id: 'a', events: [{ split: SPLIT_TRAIN, values: { category: 2, brand: 2 } }] }], VOCABULARIES);
    expect(() => createSampler(RANDOM_PREFIX_SAMPLER, lonely, options())).toThrow(/no customer has two or more training events.*1 customers have a single training event/);
  });

  it('rejects the state of another sampler', () => {
    const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, options());
    expect(() => sampler.setState({ sampler: 'cloze' })).toThrow(/cannot restore sampler "random-prefix" from the state of sampler "cloze"/);
  });

  it('reads a dataset written to disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcm-sampler-'));
    directories.push(dir);
    const customers = mixedCustomers(50);
    const shards = [buildShard(customers.slice(0, 25), ['brand', 'category']), buildShard(customers.slice(25), ['brand', 'category'])];
    await writeDataset(dir, buildManifest('disk', VOCABULARIES, shards), shards);

    const loaded: TrainingData = await loadTrainingData(dir);
    expect(loaded.stats.customers).toBe(customers.length);
    expect(loaded.stats.events).toBe(customers.reduce((sum, customer) => sum + customer.events.length, 0));
    const sampled = createSampler(RANDOM_PREFIX_SAMPLER, loaded, options()).next();
    expect(sampled.examples.length).toBe(16);
  });
});
