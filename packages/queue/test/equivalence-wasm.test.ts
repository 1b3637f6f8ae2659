import { describe, expect, it } from 'vitest';
import { distributedRun, expectSameLosses } from './helpers/equivalence.ts';
import { useReferenceRun } from './helpers/reference-suite.ts';
import { useTeardown } from './helpers/teardown.ts';

// On wasm, workers read gradients in place from the wasm heap and the coordinator reads the
// weights the same way, paths that the cpu backend of the other equivalence tests skips.
const suite = useReferenceRun(undefined, 'wasm');
const teardown = useTeardown();

describe('distributed training equivalence on wasm', () => {
  it('2 workers with micro-batches match one process', async () => {
    const { steps, tensors } = await distributedRun(suite, teardown, 2, 2);

    expectSameLosses(steps, suite.reference);
    expect(new Set(tensors.slice(1)).size).toBe(1);
    for (const line of steps) {
      expect(line.shards).toBe(2);
      expect(line.examples).toBe(16);
    }
  });
});
