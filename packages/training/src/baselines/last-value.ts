import { FIRST_VALUE_ID } from '@mcm/schema';
import { labelValue } from '../batch.ts';
import type { TrainingData } from '../data/training-data.ts';
import type { Scorer } from '../evaluation/scorer.ts';
import { trainingFrequencies } from './popularity.ts';

export const LAST_VALUE_BASELINE = 'last-value';

/**
 * Ranks the value of `task` in the customer's most recent event first and every other
 * value by training-period frequency, so the baseline predicts a repeat and falls back
 * to popularity. Scores: 1 + frequency / (max frequency + 1) for the last value,
 * frequency / (max frequency + 1) for the others.
 */
export function lastValueScorer(data: TrainingData, tasks: readonly string[]): Scorer {
  const normalised = new Map<string, Float32Array>();
  for (const task of tasks) {
    const counts = trainingFrequencies(data, task);
    const scale = Math.max(...counts) + 1;
    normalised.set(task, Float32Array.from(counts, (count) => count / scale));
  }

  return {
    name: LAST_VALUE_BASELINE,
    score(_batch, examples, task) {
      const base = normalised.get(task);
      if (base === undefined) throw new Error(`last-value baseline has no counts for task "${task}"`);
      const width = base.length;
      const out = new Float32Array(examples.length * width);
      examples.forEach((ref, b) => {
        out.set(base, b * width);
        const id = labelValue(ref.shard.features[task]!, ref.end - 1);
        if (id >= FIRST_VALUE_ID) out[b * width + id]! += 1;
      });
      return out;
    },
  };
}
