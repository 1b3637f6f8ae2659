import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, policyFromEnvironment, reconnectDelay, resolvePolicy } from '../src/policy.ts';
import { setHeapGrowth } from '../src/heap-growth.ts';
import { gradientJobId } from '../src/payloads.ts';
import { QueueKeys } from '../src/keys.ts';
import { redactRedisUrl } from '../src/redis.ts';
import { labelCounts, planShards, resolveExamples, splitEvenly } from '../src/shard-plan.ts';
import { fixtureData, plantedPatternCustomers, PLANTED_VOCABULARIES } from '../../training/test/helpers/dataset-fixture.ts';
import { createSampler, RANDOM_PREFIX_SAMPLER } from '@mcm/training';

describe('queue policy', () => {
  it('rejects values that cannot work', () => {
    expect(() => resolvePolicy({ lockDurationMs: 0 })).toThrow('queue policy: lockDurationMs must be a number greater than 0, got 0');
    expect(() => resolvePolicy({ attempts: 1.5 })).toThrow('queue policy: attempts must be an integer, got 1.5');
    expect(() => resolvePolicy({ heartbeatIntervalMs: 5_000, heartbeatTtlMs: 4_000 })).toThrow('heartbeatTtlMs (4000) must be greater than heartbeatIntervalMs (5000)');
  });

  it('doubles the reconnect delay up to the maximum', () => {
    const policy = resolvePolicy({ reconnectInitialDelayMs: 100, reconnectMaxDelayMs: 1_000 });
    expect([1, 2, 3, 4, 5, 40].map((attempt) => reconnectDelay(policy, attempt))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('reads overrides from MCM_QUEUE_POLICY', () => {
    const previous = process.env.MCM_QUEUE_POLICY;
    try {
      process.env.MCM_QUEUE_POLICY = '{"lockDurationMs":120000}';
      expect(policyFromEnvironment().lockDurationMs).toBe(120_000);
      expect(policyFromEnvironment().attempts).toBe(DEFAULT_POLICY.attempts);
      process.env.MCM_QUEUE_POLICY = '{"lockMs":1}';
      expect(() => policyFromEnvironment()).toThrow('MCM_QUEUE_POLICY names "lockMs", which is not a policy field');
      process.env.MCM_QUEUE_POLICY = 'fast';
      expect(() => policyFromEnvironment()).toThrow('MCM_QUEUE_POLICY is not valid JSON: fast');
    } finally {
      if (previous === undefined) delete process.env.MCM_QUEUE_POLICY;
      else process.env.MCM_QUEUE_POLICY = previous;
    }
  });
});

describe('heap growth', () => {
  it('rejects a value that is not a whole percentage from 0 to 1000', () => {
    for (const value of [-1, 12.5, 1001, Number.NaN]) expect(() => setHeapGrowth(value)).toThrow(`heap growth must be a whole percentage from 0 to 1000, got ${value}`);
    // 0 gives the choice back to V8, as it is in a process that never called it.
    expect(() => setHeapGrowth(0)).not.toThrow();
  });
});

describe('names', () => {
  it('redacts the password of a Redis URL', () => {
    expect(redactRedisUrl('redis://:hunter2@redis.internal:6380/1')).toBe('redis://:***@redis.internal:6380/1');
    expect(redactRedisUrl('rediss://mcm:hunter2@redis.internal')).toBe('rediss://mcm:***@redis.internal');
    expect(redactRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactRedisUrl('not a url')).toBe('(an invalid Redis URL)');
  });

  it('builds job ids without colons', () => {
    expect(gradientJobId({ run: 'r1', session: 'ab12', version: 7 }, 3, 1)).toBe('r1.ab12.7.3.1');
  });

  it('rejects a prefix with spaces', () => {
    expect(() => new QueueKeys('my prefix')).toThrow('queue prefix must be a non-empty word without spaces, got "my prefix"');
  });
});

describe('shard plan', () => {
  const data = fixtureData(plantedPatternCustomers(60, 2), PLANTED_VOCABULARIES, 3);
  const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, {
    batchSize: 10,
    maxLength: 8,
    features: ['category', 'brand'],
    tasks: ['category', 'brand'],
    seed: 4,
    bucketBatches: 2,
  });

  it('deals examples round-robin', () => {
    const sampled = sampler.next();
    const shards = planShards(sampled, data, 3);

    expect(shards.map((shard) => shard.examples.length)).toEqual([4, 3, 3]);
    const resolved = resolveExamples(data, shards[1]!.examples);
    expect(resolved[0]).toEqual(sampled.examples[1]);
    expect(resolved[1]).toEqual(sampled.examples[4]);
  });

  it('caps shards at the batch size', () => {
    expect(planShards(sampler.next(), data, 50)).toHaveLength(10);
  });

  it('rejects positions outside the data', () => {
    expect(() => resolveExamples(data, [[5, 0, 0, 1]])).toThrow('example 0 names shard 5, but fixture has 3 shards');
    expect(() => resolveExamples(data, [[0, 0, 0, 999]])).toThrow('is outside the data in fixture');
  });

  it('counts labelled examples per task', () => {
    expect(labelCounts({ category: Int32Array.from([0, 2, 3]), brand: Int32Array.from([4, 4, 4]) }, ['category', 'brand'])).toEqual({ category: 2, brand: 3 });
  });

  it('splits evenly into micro-batches', () => {
    expect(splitEvenly([1, 2, 3, 4, 5], 2)).toEqual([[1, 2, 3], [4, 5]]);
    expect(splitEvenly([1, 2], 3)).toEqual([[1], [2]]);
  });
});
