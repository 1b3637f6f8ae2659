import { setFlagsFromString } from 'node:v8';

/**
 * Default room, in percent of the live heap, that V8 leaves before its next full garbage
 * collection in a worker or coordinator. Both move megabytes per step through Redis (the
 * weights, the gradients), and V8 counts those buffers against the same room. V8's own
 * choice was about 30% of a worker's 75 MB heap. A worker then ran a full collection
 * every second or third step of the distributed benchmark, and each one took some 60 ms
 * of marking on the other core, which the second worker needed. At 100% it ran one or
 * two per 30 steps, and 2 workers trained 11% (weak scaling) to 25% (strong) more
 * sequences per second. The cost is up to one more live heap of memory.
 */
export const DEFAULT_HEAP_GROWTH_PERCENT = 100;

/** Largest heap growth accepted, in percent: ten more live heaps of memory. */
export const MAX_HEAP_GROWTH_PERCENT = 1000;

/**
 * Sets how far the heap may grow past its live size before the next full garbage
 * collection, in percent of it. 0 gives the choice back to V8. The setting applies from
 * the next collection on, so call it at start-up.
 */
export function setHeapGrowth(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > MAX_HEAP_GROWTH_PERCENT) {
    throw new Error(`heap growth must be a whole percentage from 0 to ${MAX_HEAP_GROWTH_PERCENT}, got ${percent}`);
  }
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
