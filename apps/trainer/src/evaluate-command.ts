import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { createLogger } from '@mcm/common';
import { CustomerModel, initBackend, type BackendPreference } from '@mcm/model';
import {
  checkFingerprint,
  checkpointDir,
  loadCheckpoint,
  loadTrainingData,
  modelScorer,
  PRIMARY_K,
  readCheckpointMeta,
  TRAINING_DEFAULTS,
  type CheckpointKind,
  type EvaluationSplit,
  type EvaluationTargets,
} from '@mcm/training';
import { baselineScorer, writeEvaluationReport, type MetricsReport } from './evaluation-report.ts';
import { formatMetricsTable } from './metrics-table.ts';
import { cutoffList, oneOf } from './option-parsers.ts';
import { metricsPath, readRunConfig } from './run-files.ts';

export interface EvaluateCommandOptions {
  run: string;
  split: EvaluationSplit;
  k: number[];
  checkpoint: CheckpointKind;
  evalTargets?: EvaluationTargets;
  filterSeen?: boolean;
  data?: string;
  backend: BackendPreference;
}

export function registerEvaluateCommand(program: Command): void {
  program
    .command('evaluate')
    .description("Rank every candidate of each task at the run's time split and rewrite <run>/metrics.json, with the popularity and last-value baselines beside the model.")
    .requiredOption('--run <dir>', 'run directory written by train')
    .option('--split <split>', 'split to evaluate: test or validation', oneOf(['test', 'validation'] as const), 'test')
    .addOption(new Option('--k <list>', 'metric cut-offs, comma-separated; 10 is always included').argParser(cutoffList).default(TRAINING_DEFAULTS.ks, TRAINING_DEFAULTS.ks.join(',')))
    .option('--checkpoint <kind>', 'weights to evaluate: best (best validation NDCG@10, or last when no validation ran) or last', oneOf(['best', 'last'] as const), 'best')
    .option('--eval-targets <which>', 'targets per customer: first or all (default: what the run was trained with)', oneOf(['first', 'all'] as const))
    .option('--filter-seen', "leave each customer's already-seen values out of the candidates, as the published MovieLens protocols do (default: what the run was trained with)")
    .option('--no-filter-seen', 'rank every candidate, seen or not')
    .option('--data <dir>', 'ingest output directory (default: the one the run was trained on)')
    .option('--backend <backend>', 'tfjs backend: auto, tensorflow, wasm or cpu', oneOf(['auto', 'tensorflow', 'wasm', 'cpu'] as const), 'auto')
    .action(async (options: EvaluateCommandOptions) => {
      const report = await runEvaluateCommand(options);
      process.stdout.write(`${formatMetricsTable(report, PRIMARY_K)}\n`);
    });
}

/** Evaluates a run's checkpoint (or recomputes its baseline) and rewrites metrics.json. */
export async function runEvaluateCommand(options: EvaluateCommandOptions): Promise<MetricsReport> {
  const runDir = resolve(options.run);
  const logger = createLogger('trainer', { run: basename(runDir) });
  const config = await readRunConfig(runDir);
  const backend = await initBackend(options.backend);
  const data = await loadTrainingData(options.data === undefined ? config.data : resolve(options.data));
  const ks = [...new Set([PRIMARY_K, ...options.k])].sort((a, b) => a - b);
  const previousTraining = await previousTrainingSection(runDir);

  if (config.modelConfig === null || config.training === null) {
    const tasks = data.manifest.tasks;
    return writeEvaluationReport(
      {
        runDir,
        model: config.model,
        data,
        backend: backend.name,
        split: options.split,
        ks,
        evalTargets: options.evalTargets ?? TRAINING_DEFAULTS.evalTargets,
        excludeSeen: options.filterSeen ?? TRAINING_DEFAULTS.excludeSeen,
        maxLength: data.manifest.maxLength,
        features: data.manifest.features.map((feature) => feature.name),
        tasks,
        scorer: baselineScorer(config.model, data, tasks),
        checkpoint: null,
        training: previousTraining,
        config,
      },
      logger,
    );
  }

  const directory = checkpointDir(runDir);
  const kind: CheckpointKind = options.checkpoint === 'best' && (await readCheckpointMeta(directory, 'best')) === null ? 'last' : options.checkpoint;
  if (kind !== options.checkpoint) logger.warn({ runDir }, 'the run has no best checkpoint (no validation ran); evaluating last');
  const checkpoint = await loadCheckpoint(directory, kind);
  checkFingerprint(checkpoint.meta, data.manifest.fingerprint, data.dir);

  const model = CustomerModel.create(config.modelConfig, config.training.seed);
  try {
    model.setWeights(checkpoint.weights);
    return await writeEvaluationReport(
      {
        runDir,
        model: config.model,
        data,
        backend: backend.name,
        split: options.split,
        ks,
        evalTargets: options.evalTargets ?? config.training.evalTargets,
        excludeSeen: options.filterSeen ?? config.training.excludeSeen ?? TRAINING_DEFAULTS.excludeSeen,
        maxLength: config.modelConfig.maxLength,
        features: config.training.features,
        tasks: Object.keys(config.training.taskWeights),
        scorer: modelScorer(config.model, model),
        checkpoint: { kind, step: checkpoint.meta.step },
        training: previousTraining ?? { steps: checkpoint.meta.step, trainingSeconds: checkpoint.meta.progress.trainingSeconds },
        config: { model: config.modelConfig, training: config.training },
      },
      logger,
    );
  } finally {
    model.dispose();
  }
}

/** Reads the training section of an existing metrics.json, so that rewriting the file keeps the budget and timings. */
async function previousTrainingSection(runDir: string): Promise<Record<string, unknown> | null> {
  try {
    const previous = JSON.parse(await readFile(metricsPath(runDir), 'utf8')) as { training?: Record<string, unknown> | null };
    return previous.training ?? null;
  } catch {
    return null;
  }
}
