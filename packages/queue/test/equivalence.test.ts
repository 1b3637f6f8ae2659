import { describe, expect, it } from 'vitest';
import { distributedRun, expectSameLosses } from './helpers/equivalence.ts';
import { useReferenceRun } from './helpers/reference-suite.ts';
import { useTeardown } from './helpers/teardown.ts';

const suite = useReferenceRun();
const teardown = useTeardown();

describe('distributed training equivalence', () => {
  it.each([
    { workers: 1, microBatches: 1 },
    { workers: 2, microBatches: 1 },
    { workers: 4, microBatches: 2 },
  ])('$workers workers match one process', async ({ workers, microBatches }) => {
    const { steps, tensors } = await distributedRun(suite, teardown, workers, microBatches);

    expectSameLosses(steps, suite.reference);
    // Every worker has built its model by the end of step 1; from then on nothing may leak.
    expect(new Set(tensors.slice(1)).size).toBe(1);
    for (const line of steps) {
      expect(line.shards).toBe(workers);
      expect(line.workers).toBe(workers);
      expect(line.examples).toBe(16);
    }
  });
});
