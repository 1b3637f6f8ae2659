import { setFlagsFromString } from 'node:v8';

/**
 * Default room, in percent of the live heap, that V8 leaves before its next full garbage
 * collection in a worker or coordinator. Both move megabytes per step through Redis (the
 * weights, the gradients), and V8 counts those buffers against the same room. With its
 * own choice, about 30% of a 75 MB heap, a worker ran a full collection every second step
 * of the distributed benchmark, and each one took 60 ms of marking on the other core,
 * which the second worker needed. At 100% it ran one or two per 30 steps, and 2 workers
 * trained 9% more sequences per second. The cost is up to one more live heap of memory.
 */
export const DEFAULT_HEAP_GROWTH_PERCENT = 100;

/**
 * Sets how far the heap may grow past its live size before the next full garbage
 * collection, in percent; 0 gives the choice back to V8. It applies from the next
 * collection on, so call it at start-up.
 */
export function setHeapGrowth(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000) {
    throw new Error(`heap growth must be a whole percentage from 0 to 1000, got ${percent}`);
  }
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
