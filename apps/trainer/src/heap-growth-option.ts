import type { Command } from 'commander';
import { DEFAULT_HEAP_GROWTH_PERCENT, MAX_HEAP_GROWTH_PERCENT } from '@mcm/queue';
import { integerBetween } from './option-parsers.ts';

/** Adds --heap-growth, which the worker and the coordinator pass to setHeapGrowth at start-up. */
export function addHeapGrowthOption(command: Command): Command {
  return command.option(
    '--heap-growth <percent>',
    'room the JS heap may grow past its live size before a full garbage collection, in percent of it; ' +
      `more room means fewer collections and more memory; 0 to ${MAX_HEAP_GROWTH_PERCENT}, where 0 leaves the choice to V8 (it picked about 30% for a worker)`,
    integerBetween(0, MAX_HEAP_GROWTH_PERCENT),
    DEFAULT_HEAP_GROWTH_PERCENT,
  );
}
