import { Random } from '@mcm/common';
import { SPLIT_TEST, SPLIT_VALIDATION } from '@mcm/schema';
import type { ExampleRef } from '../batch.ts';
import type { TrainingData } from '../data/training-data.ts';
import type { EvaluationTargets } from '../defaults.ts';

export type EvaluationSplit = 'validation' | 'test';

/** One evaluation example: the event at `ref.end` is the target, the events before it the history. */
export interface EvaluationExample {
  ref: ExampleRef;
  customerId: string;
}

/** The examples of a split and the counts behind them. */
export interface EvaluationSet {
  split: EvaluationSplit;
  targets: EvaluationTargets;
  examples: EvaluationExample[];
  /** Customers with at least one example. */
  customers: number;
  /** Events of the split that became no example because no event precedes them. */
  eventsWithoutHistory: number;
  /** Events of the split left out because `targets` is `first` and an earlier event of the split was the target. */
  laterEventsSkipped: number;
}

const SPLIT_CODES: Record<EvaluationSplit, number> = { validation: SPLIT_VALIDATION, test: SPLIT_TEST };

/**
 * Builds the evaluation examples of `split` at the time split. A target is an event of
 * the split that has at least one earlier event of the same customer. Its history is
 * every earlier event, whatever its split, cut to the most recent `maxLength`. With
 * `first`, each customer contributes the first such event of the split, and with `all`
 * every one. Customers are visited in shard order, so the result is deterministic.
 */
export function buildEvaluationSet(data: TrainingData, split: EvaluationSplit, targets: EvaluationTargets, maxLength: number): EvaluationSet {
  const code = SPLIT_CODES[split];
  const examples: EvaluationExample[] = [];
  let customers = 0;
  let eventsWithoutHistory = 0;
  let laterEventsSkipped = 0;

  for (const record of data.customers) {
    const shard = data.shards[record.shard]!;
    let taken = 0;
    for (let e = record.start; e < record.end; e++) {
      if (shard.split[e] !== code) continue;
      if (e === record.start) {
        eventsWithoutHistory++;
        continue;
      }
      if (targets === 'first' && taken > 0) {
        laterEventsSkipped++;
        continue;
      }
      examples.push({
        ref: { shard, customer: record.customer, start: Math.max(record.start, e - maxLength), end: e },
        customerId: record.id,
      });
      taken++;
    }
    if (taken > 0) customers++;
  }

  return { split, targets, examples, customers, eventsWithoutHistory, laterEventsSkipped };
}

/**
 * Draws a seeded sample of at most `maxExamples` examples, kept in their original order,
 * or returns the whole set when it is small enough. Periodic validation uses it.
 */
export function sampleEvaluationSet(set: EvaluationSet, maxExamples: number, seed: number): EvaluationSet {
  if (set.examples.length <= maxExamples) return set;
  const indices = new Random((seed ^ 0x27d4eb2f) >>> 0).shuffle(set.examples.map((_, i) => i));
  const kept = indices.slice(0, maxExamples).sort((a, b) => a - b);
  const examples = kept.map((i) => set.examples[i]!);
  return { ...set, examples, customers: new Set(examples.map((example) => example.customerId)).size };
}
