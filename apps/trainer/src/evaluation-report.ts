import { startProgress, writeJsonAtomic, type Logger } from '@mcm/common';
import {
  buildEvaluationSet,
  evaluateScorer,
  lastValueScorer,
  popularityScorer,
  TRAINING_DEFAULTS,
  type EvaluationSplit,
  type EvaluationTargets,
  type Scorer,
  type TaskMetrics,
  type TrainingData,
} from '@mcm/training';
import { metricsPath } from './run-files.ts';

export interface ReportInput {
  runDir: string;
  /** The --model name. */
  model: string;
  data: TrainingData;
  backend: string;
  split: EvaluationSplit;
  ks: readonly number[];
  evalTargets: EvaluationTargets;
  /** Whether each customer's already-seen values are left out of the candidates. */
  excludeSeen: boolean;
  /** The model's longest history; evaluation histories are cut to it. */
  maxLength: number;
  features: readonly string[];
  tasks: readonly string[];
  /** Scores of the evaluated model; for a baseline run, the baseline itself. */
  scorer: Scorer;
  /** The checkpoint the weights came from; null for a baseline. */
  checkpoint: { kind: string; step: number } | null;
  /** Budget, steps, stop reason and timings of the training run. */
  training: Record<string, unknown> | null;
  /** The run's model and training configuration. */
  config: unknown;
}

/** metrics.json: the evaluated model's metrics per task, the baselines' beside them, and how they were obtained. */
export interface MetricsReport {
  model: string;
  dataset: string;
  backend: string;
  split: EvaluationSplit;
  evalTargets: EvaluationTargets;
  excludeSeen: boolean;
  ks: number[];
  checkpoint: { kind: string; step: number } | null;
  evaluation: { examples: number; customers: number; eventsWithoutHistory: number; laterEventsSkipped: number; seconds: number };
  tasks: Record<string, TaskMetrics>;
  baselines: Record<string, Record<string, TaskMetrics>>;
  training: Record<string, unknown> | null;
  config: unknown;
  createdAt: string;
}

/**
 * Scores the split with the model and with the popularity and last-value baselines,
 * all through the same ranking function, and writes `<run>/metrics.json`.
 */
export async function writeEvaluationReport(input: ReportInput, logger: Logger): Promise<MetricsReport> {
  const start = performance.now();
  const set = buildEvaluationSet(input.data, input.split, input.evalTargets, input.maxLength);
  logger.info(
    {
      split: input.split,
      targets: input.evalTargets,
      examples: set.examples.length,
      customers: set.customers,
      eventsWithoutHistory: set.eventsWithoutHistory,
      laterEventsSkipped: set.laterEventsSkipped,
    },
    'evaluation started',
  );
  if (set.examples.length === 0) {
    logger.warn({ split: input.split }, `the ${input.split} split has no example, so every metric is 0`);
  }

  const vocabularySizes = input.data.manifest.vocabularies;
  const score = (scorer: Scorer): Record<string, TaskMetrics> => {
    const progress = startProgress(logger, `evaluate ${scorer.name}`, set.examples.length, 'examples');
    const metrics = evaluateScorer(scorer, set.examples, {
      features: input.features,
      tasks: input.tasks,
      vocabularySizes,
      ks: input.ks,
      batchSize: TRAINING_DEFAULTS.evalBatchSize,
      excludeSeen: input.excludeSeen,
      onProgress: (done) => progress.update(done),
    });
    progress.stop();
    return metrics;
  };

  const tasks = score(input.scorer);
  const baselines: MetricsReport['baselines'] = {};
  for (const baseline of [popularityScorer(input.data, input.tasks), lastValueScorer(input.data, input.tasks)]) {
    baselines[baseline.name] = baseline.name === input.scorer.name ? tasks : score(baseline);
  }

  const report: MetricsReport = {
    model: input.model,
    dataset: input.data.manifest.dataset,
    backend: input.backend,
    split: input.split,
    evalTargets: input.evalTargets,
    excludeSeen: input.excludeSeen,
    ks: [...input.ks],
    checkpoint: input.checkpoint,
    evaluation: {
      examples: set.examples.length,
      customers: set.customers,
      eventsWithoutHistory: set.eventsWithoutHistory,
      laterEventsSkipped: set.laterEventsSkipped,
      seconds: (performance.now() - start) / 1000,
    },
    tasks,
    baselines,
    training: input.training,
    config: input.config,
    createdAt: new Date().toISOString(),
  };
  await writeJsonAtomic(metricsPath(input.runDir), report);
  logger.info({ file: metricsPath(input.runDir), seconds: report.evaluation.seconds }, 'metrics written');
  return report;
}

/** Returns the scorer of a baseline run (`--model popularity` or `--model last-value`). */
export function baselineScorer(name: string, data: TrainingData, tasks: readonly string[]): Scorer {
  if (name === 'popularity') return popularityScorer(data, tasks);
  if (name === 'last-value') return lastValueScorer(data, tasks);
  throw new Error(`"${name}" is not a baseline; baselines: popularity, last-value`);
}
