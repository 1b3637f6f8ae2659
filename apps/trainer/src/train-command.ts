import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { createLogger, writeJsonAtomic, type Logger } from '@mcm/common';
import { addDashboardOptions, startCommandDashboard, type DashboardCommandOptions } from '@mcm/dashboard';
import { CustomerModel, defaultModelOptions, initBackend, modelConfigFromManifest, type BackendPreference, type ModelConfig } from '@mcm/model';
import {
  CLOZE_SAMPLER,
  loadCheckpoint,
  loadTrainingData,
  modelScorer,
  parseTaskWeights,
  PRIMARY_K,
  train,
  TRAINING_DEFAULTS,
  checkpointDir,
  type EvaluationSplit,
  type EvaluationTargets,
  type LearningRateDecay,
  type StepFunction,
  type TrainerOptions,
  type TrainingData,
} from '@mcm/training';
import { baselineScorer, writeEvaluationReport, type MetricsReport } from './evaluation-report.ts';
import { formatMetricsTable } from './metrics-table.ts';
import { findModelVariant, MODEL_VARIANTS, type NeuralVariant } from './model-variants.ts';
import { cutoffList, integerAtLeast, nameList, numberBetween, oneOf, positiveNumber } from './option-parsers.ts';
import { metricsPath, readRunConfig, runConfigPath, type RunConfig } from './run-files.ts';

/** The options of `train`, as commander parses them. */
export interface TrainCommandOptions extends DashboardCommandOptions {
  data: string;
  out: string;
  model: string;
  budgetMinutes: number;
  maxSteps?: number;
  customersPerBatch: number;
  lr: number;
  warmupSteps: number;
  decay: LearningRateDecay;
  minLrRatio: number;
  weightDecay: number;
  clipNorm: number;
  seed: number;
  backend: BackendPreference;
  resume: boolean;
  evalEvery: number;
  patience: number;
  evalMaxExamples: number;
  evalTargets: EvaluationTargets;
  filterSeen: boolean;
  split: EvaluationSplit;
  k: number[];
  bucketBatches: number;
  maskProbability: number;
  loss?: 'softmax' | 'binary';
  taskWeights?: string;
  tasks?: string[];
  features?: string[];
  hidden?: number;
  layers?: number;
  heads?: number;
  ffn?: number;
  dropout?: number;
  maxLength?: number;
}

export function registerTrainCommand(program: Command): void {
  addDashboardOptions(
    addTrainOptions(
      program
        .command('train')
        .description('Pre-train a model on an ingested dataset, then evaluate it and print per-task metrics beside the popularity baseline.'),
    ),
  ).action(async (options: TrainCommandOptions) => {
    const report = await runTrainCommand(options);
    process.stdout.write(`${formatMetricsTable(report, PRIMARY_K)}\n`);
  });
}

/** Adds the options of `train` to `command`; the distributed coordinator's `start` takes the same ones. */
export function addTrainOptions(command: Command): Command {
  const defaults = TRAINING_DEFAULTS;
  const model = defaultModelOptions();
  const variants = MODEL_VARIANTS.map((variant) => variant.name).join(', ');

  return command
    .requiredOption('--data <dir>', 'ingest output directory (manifest.json and shards/)')
    .requiredOption('--out <dir>', 'run directory for config.json, checkpoints/, steps.jsonl, validation.jsonl and metrics.json')
    .option('--model <name>', `model to train: ${variants} (docs/results.md describes each); bert4rec, sasrec and mcm-single train one task, named by --tasks`, 'mcm')
    .option('--budget-minutes <minutes>', 'wall-clock minutes of training in this invocation, validation included', positiveNumber, defaults.budgetMinutes)
    .option('--max-steps <steps>', 'total optimizer steps of the run, counted across resumes (default: no limit)', integerAtLeast(0))
    .option('--customers-per-batch <count>', 'batch size: customers per batch', integerAtLeast(1), defaults.batchSize)
    .option('--lr <rate>', 'peak learning rate of AdamW', positiveNumber, defaults.learningRate)
    .option('--warmup-steps <steps>', 'steps of linear learning-rate warm-up', integerAtLeast(0), defaults.warmupSteps)
    .option('--decay <shape>', 'learning rate after warm-up: constant, cosine or linear (cosine and linear need --max-steps)', oneOf(['constant', 'cosine', 'linear'] as const), defaults.decay)
    .option('--min-lr-ratio <ratio>', 'fraction of the peak rate that cosine and linear decay end at', numberBetween(0, 1), defaults.minLearningRateRatio)
    .option('--weight-decay <rate>', 'decoupled weight decay of AdamW (not applied to biases and norm gains)', numberBetween(0, 1), defaults.weightDecay)
    .option('--clip-norm <norm>', 'global gradient-norm limit', positiveNumber, defaults.clipNorm)
    .option('--seed <seed>', 'seed of weights, dropout, shuffles and prefixes', integerAtLeast(0), defaults.seed)
    .option('--backend <backend>', 'tfjs backend: auto (fastest that loads), tensorflow, wasm or cpu', oneOf(['auto', 'tensorflow', 'wasm', 'cpu'] as const), 'auto')
    .option('--resume', 'continue the run in --out from its last checkpoint with the options it was started with; pass the same --data and --model, and only the budgets come from this command line', false)
    .option('--eval-every <steps>', 'steps between validation evaluations, each of which writes the last checkpoint', integerAtLeast(1), defaults.evalEvery)
    .option('--patience <evaluations>', 'validation evaluations without a better mean NDCG@10 before stopping early', integerAtLeast(1), defaults.patience)
    .option('--eval-max-examples <examples>', 'validation examples scored at each periodic evaluation (the final evaluation scores all)', integerAtLeast(1), defaults.evalMaxExamples)
    .option('--eval-targets <which>', 'evaluation targets per customer: first (first event of the split) or all', oneOf(['first', 'all'] as const), defaults.evalTargets)
    .option('--filter-seen', "leave each customer's already-seen values of a task out of its candidates in validation and the final evaluation, as the published MovieLens protocols do", defaults.excludeSeen)
    .option('--split <split>', 'split of the final evaluation: test or validation', oneOf(['test', 'validation'] as const), 'test')
    .addOption(new Option('--k <list>', 'cut-offs of the final metrics, comma-separated; 10 is always included').argParser(cutoffList).default(defaults.ks, defaults.ks.join(',')))
    .option('--loss <loss>', "training loss: softmax (cross-entropy over the candidates) or binary (SASRec's original: one sampled negative per target; default: softmax)", oneOf(['softmax', 'binary'] as const))
    .option('--mask-probability <share>', 'share of history events the Cloze objective of bert4rec and mcm-single masks, in (0, 1], at least one per history; other models ignore it', maskShare, TRAINING_DEFAULTS.maskProbability)
    .option('--bucket-batches <batches>', 'batches sorted by history length together (0 turns length bucketing off)', integerAtLeast(0), defaults.bucketBatches)
    .option('--task-weights <list>', 'weights of the task losses, e.g. category=1,brand=0.5 (default: 1 each)')
    .option('--tasks <list>', "tasks to train, comma-separated (default: the manifest's tasks)", nameList)
    .option('--features <list>', 'input features, comma-separated (default: every feature)', nameList)
    .option('--hidden <size>', `width of embeddings and hidden states (default: ${model.hidden})`, integerAtLeast(1))
    .option('--layers <blocks>', `transformer blocks (default: ${model.layers})`, integerAtLeast(1))
    .option('--heads <heads>', `attention heads per block (default: ${model.heads})`, integerAtLeast(1))
    .option('--ffn <width>', 'inner width of the feed-forward networks (default: 4 x hidden)', integerAtLeast(1))
    .option('--dropout <rate>', `dropout rate in training (default: ${model.dropout})`, numberBetween(0, 0.99))
    .option('--max-length <events>', "longest history the model reads (default: the manifest's maxLength)", integerAtLeast(1))
    .addHelpText('after', '\nThe defaults and the reasons for them are listed in docs/training.md.');
}

/** Parses --mask-probability: a share in (0, 1], since a Cloze history needs a masked event to learn from. */
function maskShare(value: string): number {
  const share = Number(value);
  if (!(share > 0 && share <= 1)) throw new InvalidArgumentError('must be a share in (0, 1], e.g. 0.2: the Cloze objective needs masked events to learn from');
  return share;
}

/** The model configuration and training options of a run, as config.json stores them. */
export interface TrainSetup {
  runDir: string;
  modelName: string;
  modelConfig: ModelConfig;
  training: StoredTraining;
  data: TrainingData;
  logger: Logger;
}

/** Runs the optimizer steps of a run somewhere else than in this process (on distributed workers). */
export interface StepRunner {
  step: StepFunction;
  /** Fields recorded beside the backend in checkpoints. */
  record?: Record<string, unknown>;
  /** Stops the runner. Called when training ends and again on the way out, so a second call must do nothing. */
  close(): Promise<void>;
}

export interface TrainHooks {
  /** Name of the logger; default `trainer`. */
  loggerName?: string;
  /** Creates the runner of the optimizer steps once model and data are ready; default: every step in this process. */
  createStepRunner?(setup: TrainSetup): Promise<StepRunner>;
  /** Changes the freshly created model's weights before a new run's first step (a warm start); not called on --resume. */
  initializeModel?(model: CustomerModel, setup: TrainSetup): Promise<void>;
}

/** Trains (or, for a baseline, counts) and evaluates, serving the dashboard while it runs when --dashboard is given; returns what metrics.json holds. */
export async function runTrainCommand(options: TrainCommandOptions, hooks: TrainHooks = {}): Promise<MetricsReport> {
  // coordinator:start serves its own dashboard, with bull-board, and passes no --dashboard here.
  const dashboard = await startCommandDashboard(options, { loggerName: hooks.loggerName ?? 'trainer', queueBoard: false });
  try {
    return await trainAndEvaluate(options, hooks);
  } finally {
    await dashboard?.close();
  }
}

async function trainAndEvaluate(options: TrainCommandOptions, hooks: TrainHooks): Promise<MetricsReport> {
  const commandStart = performance.now();
  const runDir = resolve(options.out);
  const logger = createLogger(hooks.loggerName ?? 'trainer', { run: basename(runDir) });
  const variant = findModelVariant(options.model);
  if (variant.kind === 'baseline' && hooks.createStepRunner !== undefined) {
    throw new Error(`--model ${variant.name} is a baseline, which has no training steps to distribute; run it with "nx run trainer:train"`);
  }
  if (!options.resume) await rejectFinishedRun(runDir);
  const backend = await initBackend(options.backend);
  await mkdir(runDir, { recursive: true });

  const data = await loadTrainingData(resolve(options.data));
  logDataStats(data, logger);
  const ks = [...new Set([PRIMARY_K, ...options.k])].sort((a, b) => a - b);
  const tasks = options.tasks ?? data.manifest.tasks;

  if (variant.kind === 'baseline') {
    const config: RunConfig = runConfig(variant.name, data, null, null);
    await writeJsonAtomic(runConfigPath(runDir), config);
    return writeEvaluationReport(
      {
        runDir,
        model: variant.name,
        data,
        backend: backend.name,
        split: options.split,
        ks,
        evalTargets: options.evalTargets,
        excludeSeen: options.filterSeen,
        maxLength: options.maxLength ?? data.manifest.maxLength,
        features: data.manifest.features.map((feature) => feature.name),
        tasks,
        scorer: baselineScorer(variant.name, data, tasks),
        checkpoint: null,
        training: { wallSeconds: (performance.now() - commandStart) / 1000 },
        config,
      },
      logger,
    );
  }

  if (variant.perTask && !options.resume && tasks.length !== 1) {
    throw new Error(
      `--model ${variant.name} trains one model per task, but the run has ${tasks.length} tasks (${tasks.join(', ')}); ` +
        `pass --tasks with one of them, or run "nx run trainer:ablation", which trains one per task`,
    );
  }
  const { modelConfig, training } = options.resume ? await storedSetup(runDir, data, options, logger) : freshSetup(options, data, variant, tasks);
  if (!options.resume) await writeJsonAtomic(runConfigPath(runDir), runConfig(variant.name, data, modelConfig, training));

  const model = CustomerModel.create(modelConfig, training.seed);
  logger.info({ model: variant.name, parameters: model.parameterCount, backend: backend.name, config: modelConfig }, 'model created');
  let runner: StepRunner | undefined;
  try {
    const setup: TrainSetup = { runDir, modelName: variant.name, modelConfig, training, data, logger };
    if (!options.resume) await hooks.initializeModel?.(model, setup);
    runner = await hooks.createStepRunner?.(setup);
    const trainerOptions: TrainerOptions = { ...training, runDir, modelConfig, resume: options.resume, extra: { backend: backend.name, ...runner?.record } };
    const outcome = await train(model, data, trainerOptions, logger, runner?.step);
    await runner?.close();

    const checkpoint = await loadCheckpoint(checkpointDir(runDir), outcome.selectedCheckpoint);
    model.setWeights(checkpoint.weights);
    logger.info({ kind: outcome.selectedCheckpoint, step: checkpoint.meta.step }, 'evaluating checkpoint');
    return await writeEvaluationReport(
      {
        runDir,
        model: variant.name,
        data,
        backend: backend.name,
        split: options.split,
        ks,
        evalTargets: training.evalTargets,
        excludeSeen: training.excludeSeen === true,
        maxLength: modelConfig.maxLength,
        features: training.features,
        tasks: Object.keys(training.taskWeights),
        scorer: modelScorer(variant.name, model),
        checkpoint: { kind: outcome.selectedCheckpoint, step: checkpoint.meta.step },
        training: {
          budgetMinutes: training.budgetMinutes,
          maxSteps: training.maxSteps ?? null,
          steps: outcome.steps,
          stopReason: outcome.stopReason,
          wallSeconds: outcome.wallSeconds,
          commandSeconds: (performance.now() - commandStart) / 1000,
          trainingSeconds: outcome.progress.trainingSeconds,
          sequences: outcome.progress.sequences,
          bestStep: outcome.progress.bestStep,
          bestValidationNdcg: outcome.progress.bestValidationNdcg,
        },
        config: { model: modelConfig, training },
      },
      logger,
    );
  } finally {
    await runner?.close();
    model.dispose();
  }
}

type StoredTraining = NonNullable<RunConfig['training']>;

/** Builds the model configuration and training options of a new run from the command line and the manifest. */
function freshSetup(options: TrainCommandOptions, data: TrainingData, variant: NeuralVariant, tasks: string[]): { modelConfig: ModelConfig; training: StoredTraining } {
  // A task-feature variant embeds only the features its tasks predict, unless --features names others.
  const inputFeatures = options.features ?? (variant.input === 'task-feature' ? tasks : undefined);
  const modelConfig = modelConfigFromManifest(data.manifest, {
    ...variant.modelOptions,
    ...(inputFeatures === undefined ? {} : { inputFeatures }),
    tasks,
    ...(options.maxLength === undefined ? {} : { maxLength: options.maxLength }),
    ...(options.hidden === undefined ? {} : { hidden: options.hidden }),
    ...(options.layers === undefined ? {} : { layers: options.layers }),
    ...(options.heads === undefined ? {} : { heads: options.heads }),
    ...(options.ffn === undefined ? {} : { ffnWidth: options.ffn }),
    ...(options.dropout === undefined ? {} : { dropout: options.dropout }),
    ...(options.loss === undefined ? {} : { loss: options.loss }),
  });
  const features = modelConfig.features.map((feature) => feature.name);
  const taskNames = modelConfig.tasks.map((task) => task.name);

  const training: StoredTraining = {
    modelName: options.model,
    features,
    vocabularySizes: Object.fromEntries(modelConfig.tasks.map((task) => [task.name, task.vocabularySize])),
    maxLength: modelConfig.maxLength,
    sampler: variant.sampler,
    ...(variant.sampler === CLOZE_SAMPLER ? { maskProbability: options.maskProbability } : {}),
    batchSize: options.customersPerBatch,
    bucketBatches: options.bucketBatches,
    seed: options.seed,
    taskWeights: parseTaskWeights(options.taskWeights, taskNames),
    schedule: {
      peak: options.lr,
      warmupSteps: options.warmupSteps,
      decay: options.decay,
      ...(options.maxSteps === undefined ? {} : { maxSteps: options.maxSteps }),
      minRatio: options.minLrRatio,
    },
    adamw: { beta1: TRAINING_DEFAULTS.beta1, beta2: TRAINING_DEFAULTS.beta2, epsilon: TRAINING_DEFAULTS.epsilon, weightDecay: options.weightDecay },
    clipNorm: options.clipNorm,
    budgetMinutes: options.budgetMinutes,
    ...(options.maxSteps === undefined ? {} : { maxSteps: options.maxSteps }),
    evalEvery: options.evalEvery,
    patience: options.patience,
    evalMaxExamples: options.evalMaxExamples,
    evalBatchSize: TRAINING_DEFAULTS.evalBatchSize,
    evalTargets: options.evalTargets,
    excludeSeen: options.filterSeen,
  };
  return { modelConfig, training };
}

/**
 * Reads the configuration a resumed run was started with. Only the budgets come from this
 * command line: the time budget always, the step budget when it is given.
 */
async function storedSetup(runDir: string, data: TrainingData, options: TrainCommandOptions, logger: Logger): Promise<{ modelConfig: ModelConfig; training: StoredTraining }> {
  const stored = await readRunConfig(runDir);
  if (stored.modelConfig === null || stored.training === null) throw new Error(`${runConfigPath(runDir)} is a baseline run, which has nothing to resume`);
  if (stored.model !== options.model) throw new Error(`--resume: the run in ${runDir} trains "${stored.model}", not "${options.model}"; pass --model ${stored.model}`);
  if (stored.manifestFingerprint !== data.manifest.fingerprint) {
    throw new Error(
      `--resume: the run in ${runDir} was started on data with fingerprint ${stored.manifestFingerprint}, but ${data.dir} has ${data.manifest.fingerprint}; pass --data ${stored.data}`,
    );
  }

  const maxSteps = options.maxSteps ?? stored.training.maxSteps;
  const training: StoredTraining = {
    ...stored.training,
    budgetMinutes: options.budgetMinutes,
    ...(maxSteps === undefined ? {} : { maxSteps }),
    schedule: { ...stored.training.schedule, ...(maxSteps === undefined ? {} : { maxSteps }) },
  };
  logger.info({ runDir, budgetMinutes: training.budgetMinutes, maxSteps: maxSteps ?? null }, 'resuming with the stored configuration; only the budgets come from this command line');
  return { modelConfig: stored.modelConfig, training };
}

/**
 * Throws, before anything in `runDir` is written, when it already contains a run: a
 * checkpoint or a metrics.json. Overwriting its config.json would make it neither
 * resumable nor evaluable.
 */
async function rejectFinishedRun(runDir: string): Promise<void> {
  const hasCheckpoint = existsSync(join(checkpointDir(runDir), 'last.json'));
  if (!hasCheckpoint && !existsSync(metricsPath(runDir))) return;
  const model = existsSync(runConfigPath(runDir)) ? (await readRunConfig(runDir)).model : 'unknown';
  throw new Error(
    `${runDir} already contains a run of model "${model}"` +
      (hasCheckpoint ? ` with a checkpoint; pass --resume --model ${model} to continue it` : '') +
      ', or choose a new --out (or delete the directory to start over)',
  );
}

function runConfig(model: string, data: TrainingData, modelConfig: ModelConfig | null, training: StoredTraining | null): RunConfig {
  return {
    model,
    data: data.dir,
    dataset: data.manifest.dataset,
    manifestFingerprint: data.manifest.fingerprint,
    modelConfig,
    training,
    createdAt: new Date().toISOString(),
  };
}

function logDataStats(data: TrainingData, logger: Logger): void {
  const { stats } = data;
  logger.info({ dataset: data.manifest.dataset, dir: data.dir, ...stats, shards: data.shards.length }, 'dataset loaded');
  if (stats.singleTrainingEvent > 0 || stats.noTrainingEvent > 0) {
    logger.info(
      { singleTrainingEvent: stats.singleTrainingEvent, noTrainingEvent: stats.noTrainingEvent },
      `${stats.singleTrainingEvent + stats.noTrainingEvent} customers have fewer than two training events and yield no training example`,
    );
  }
  if (stats.trainingEventsAfterHeldOut > 0) {
    logger.warn({ events: stats.trainingEventsAfterHeldOut }, 'training events that follow a validation or test event are left out of training');
  }
}
