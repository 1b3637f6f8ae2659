import { buildBatch, buildLabels } from '../batch.ts';
import type { EvaluationExample } from './evaluation-examples.ts';
import { seenValues } from './seen-values.ts';
import { metricsFromRanks, rankTargets, type TaskMetrics } from './ranking-metrics.ts';
import type { Scorer } from './scorer.ts';

export interface EvaluateOptions {
  /** Features of the model input. */
  features: readonly string[];
  tasks: readonly string[];
  /** Task name -> vocabulary size of the task's feature (the number of score columns). */
  vocabularySizes: Readonly<Record<string, number>>;
  ks: readonly number[];
  batchSize: number;
  /**
   * Takes out of each example's candidates every value of the task the customer has seen
   * before the target (its whole history), as the published MovieLens protocols do. Off
   * by default, because customers repeat categories and brands, and a repeat is a correct prediction.
   */
  excludeSeen?: boolean;
  /** Called after each batch with the number of examples scored so far. */
  onProgress?: (done: number) => void;
}

/**
 * Scores every example with `scorer` for every task and returns each task's ranking
 * metrics. Examples are scored in batches of similar history length (a stable sort,
 * so the batches are deterministic); the metrics do not depend on the batching.
 */
export function evaluateScorer(scorer: Scorer, examples: readonly EvaluationExample[], options: EvaluateOptions): Record<string, TaskMetrics> {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new Error(`evaluation batch size must be a positive integer, got ${options.batchSize}`);
  }
  const ordered = examples
    .map((example, index) => ({ example, index, length: example.ref.end - example.ref.start }))
    .sort((a, b) => a.length - b.length || a.index - b.index)
    .map((entry) => entry.example.ref);

  const ranks: Record<string, number[]> = Object.fromEntries(options.tasks.map((task) => [task, []]));
  for (let from = 0; from < ordered.length; from += options.batchSize) {
    const refs = ordered.slice(from, from + options.batchSize);
    const batch = buildBatch(refs, options.features);
    const labels = buildLabels(refs, options.tasks);

    for (const task of options.tasks) {
      const vocabularySize = options.vocabularySizes[task];
      if (vocabularySize === undefined) throw new Error(`no vocabulary size for task "${task}"`);
      const scores = scorer.score(batch, refs, task);
      const excluded = options.excludeSeen === true ? seenValues(refs, task) : undefined;
      for (const rank of rankTargets(scores, vocabularySize, labels[task]!, excluded)) ranks[task]!.push(rank);
    }
    options.onProgress?.(from + refs.length);
  }

  return Object.fromEntries(options.tasks.map((task) => [task, metricsFromRanks(ranks[task]!, options.ks)]));
}

/** Returns the mean of NDCG@k over tasks: the number that selects the best checkpoint and drives early stopping. */
export function meanNdcg(metrics: Record<string, TaskMetrics>, k: number): number {
  const values = Object.values(metrics).map((task) => task[`ndcg@${k}`] ?? 0);
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
}
