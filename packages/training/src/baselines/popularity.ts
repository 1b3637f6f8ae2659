import { FIRST_VALUE_ID, SPLIT_TRAIN } from '@mcm/schema';
import { labelValue } from '../batch.ts';
import type { TrainingData } from '../data/training-data.ts';
import type { Scorer } from '../evaluation/scorer.ts';

export const POPULARITY_BASELINE = 'popularity';

/**
 * Counts the training-period frequency of each value of `task`'s feature: how often it is the
 * label value (the first value, for a multi-valued feature) of a training-split
 * event. Ids 0 and 1 stay 0.
 */
export function trainingFrequencies(data: TrainingData, task: string): Float64Array {
  const feature = data.manifest.features.find((entry) => entry.name === task);
  if (feature === undefined) throw new Error(`task "${task}" is not a feature of ${data.dir}; features: ${data.manifest.features.map((f) => f.name).join(', ')}`);

  const counts = new Float64Array(feature.vocabularySize);
  for (const shard of data.shards) {
    const column = shard.features[task]!;
    for (let e = 0; e < shard.split.length; e++) {
      if (shard.split[e] !== SPLIT_TRAIN) continue;
      const id = labelValue(column, e);
      if (id >= FIRST_VALUE_ID) counts[id]!++;
    }
  }
  return counts;
}

/** Scores every candidate by its training-period frequency, the same for every customer. */
export function popularityScorer(data: TrainingData, tasks: readonly string[]): Scorer {
  const frequencies = new Map(tasks.map((task) => [task, trainingFrequencies(data, task)]));
  return {
    name: POPULARITY_BASELINE,
    score(_batch, examples, task) {
      const counts = frequencies.get(task);
      if (counts === undefined) throw new Error(`popularity baseline has no counts for task "${task}"`);
      const out = new Float32Array(examples.length * counts.length);
      for (let b = 0; b < examples.length; b++) out.set(counts, b * counts.length);
      return out;
    },
  };
}
