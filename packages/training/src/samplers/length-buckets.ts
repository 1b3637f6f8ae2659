import type { Random } from '@mcm/common';

/**
 * Sorts `items` by `lengthOf` and cuts them into batches of `batchSize` (the last one
 * may be smaller). It then shuffles the order of the batches with `random`, so that
 * training does not always move from short to long histories inside a pool.
 * The sort is stable, so equal lengths keep their drawing order and the result depends
 * only on the items and the random state.
 */
export function bucketByLength<T>(items: readonly T[], lengthOf: (item: T) => number, batchSize: number, random: Random): T[][] {
  const order = items.map((item, index) => ({ item, index, length: lengthOf(item) }));
  order.sort((a, b) => a.length - b.length || a.index - b.index);

  const batches: T[][] = [];
  for (let i = 0; i < order.length; i += batchSize) {
    batches.push(order.slice(i, i + batchSize).map((entry) => entry.item));
  }
  return random.shuffle(batches);
}
