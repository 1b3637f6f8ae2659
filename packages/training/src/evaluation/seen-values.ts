import { PAD_ID } from '@mcm/schema';
import type { ExampleRef } from '../batch.ts';

/**
 * Returns, for each example, the values of `task`'s feature in every event of its customer
 * before the target: the whole history from the customer's first event, not only the
 * window the model reads. Evaluation with seen items excluded takes these out of the
 * candidates, as the published MovieLens protocols do.
 */
export function seenValues(refs: readonly ExampleRef[], task: string): Set<number>[] {
  return refs.map((ref) => {
    const column = ref.shard.features[task];
    if (column === undefined) throw new Error(`task "${task}" has no feature column in the shard`);
    const first = ref.shard.customerOffsets[ref.customer]!;
    const seen = new Set<number>();
    if (column.kind === 'single') {
      for (let e = first; e < ref.end; e++) seen.add(column.values[e]!);
    } else {
      for (let v = column.offsets[first]!; v < column.offsets[ref.end]!; v++) seen.add(column.values[v]!);
    }
    seen.delete(PAD_ID);
    return seen;
  });
}
