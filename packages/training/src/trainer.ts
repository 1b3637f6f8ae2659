import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Random, startProgress, type Logger } from '@mcm/common';
import {
  checkFingerprint,
  loadCheckpoint,
  readCheckpointMeta,
  saveCheckpoint,
  type CheckpointInput,
  type CheckpointKind,
  type TrainerProgress,
} from './checkpoint/checkpoint.ts';
import type { TrainingData } from './data/training-data.ts';
import { PRIMARY_K, type EvaluationTargets } from './defaults.ts';
import { evaluateScorer, meanNdcg } from './evaluation/evaluate.ts';
import { buildEvaluationSet, sampleEvaluationSet, type EvaluationSet } from './evaluation/evaluation-examples.ts';
import type { TaskMetrics } from './evaluation/ranking-metrics.ts';
import { modelScorer } from './evaluation/scorer.ts';
import { AdamW, type AdamWConfig } from './optimizer/adamw.ts';
import { learningRateAt, validateSchedule, type LearningRateSchedule } from './optimizer/learning-rate-schedule.ts';
import { StepLog } from './run-log.ts';
import { createSampler, type BatchSampler } from './samplers/batch-sampler.ts';
import './samplers/builtin-samplers.ts';
import type { TaskWeights } from './task-loss.ts';
import { ThroughputWindow } from './throughput-window.ts';
import { NonFiniteLossError, trainStep, type StepFunction } from './train-step.ts';
import type { TrainableModel } from './trainable-model.ts';

export interface TrainerOptions {
  /** Output directory of the run: checkpoints/, steps.jsonl, validation.jsonl. */
  runDir: string;
  /** The --model name, stored in checkpoints. */
  modelName: string;
  /** The model's configuration, stored in checkpoints so that evaluation can rebuild the model. */
  modelConfig: unknown;
  /** Features of the model input, tasks and their vocabulary sizes, and the model's longest input. */
  features: readonly string[];
  vocabularySizes: Readonly<Record<string, number>>;
  maxLength: number;
  /** Registered sampler name, e.g. "random-prefix". */
  sampler: string;
  /** Share of events the Cloze sampler masks; other samplers ignore it. Default TRAINING_DEFAULTS.maskProbability. */
  maskProbability?: number;
  batchSize: number;
  bucketBatches: number;
  seed: number;
  /** Task -> weight of its loss; the keys are the trained tasks. */
  taskWeights: TaskWeights;
  schedule: LearningRateSchedule;
  adamw: AdamWConfig;
  clipNorm: number;
  /** Wall-clock minutes this invocation may train; evaluations count, loading does not. */
  budgetMinutes: number;
  /** Total optimizer steps of the run, counted across resumes; undefined for no limit. */
  maxSteps?: number;
  evalEvery: number;
  patience: number;
  evalMaxExamples: number;
  evalBatchSize: number;
  evalTargets: EvaluationTargets;
  /** Validation leaves out the values each customer has already seen (see EvaluateOptions.excludeSeen). */
  excludeSeen?: boolean;
  resume: boolean;
  /** Everything else worth recording in checkpoints (backend, CLI options). */
  extra?: Record<string, unknown>;
}

export type StopReason = 'max-steps' | 'budget' | 'early-stopping';

export interface TrainingOutcome {
  steps: number;
  stopReason: StopReason;
  /** Seconds this invocation spent training (steps and evaluations). */
  wallSeconds: number;
  progress: TrainerProgress;
  /** The checkpoint the final metrics should come from: `best` when a validation ran, else `last`. */
  selectedCheckpoint: CheckpointKind;
}

/** Directory of a run's checkpoints. */
export function checkpointDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

/**
 * Trains `model` on `data` until the step budget, the time budget or early stopping
 * ends the run. Every `evalEvery` steps, and at the end, it scores a validation
 * sample, writes the `last` checkpoint and, when mean NDCG@10 improved, the `best`
 * one. With `resume`, it first restores weights, optimizer, generators, sampler and
 * counters from `last`, so the run continues as if it had never stopped.
 * `step` runs each optimizer step; a distributed run passes one that computes the
 * gradients on workers.
 */
export async function train(
  model: TrainableModel,
  data: TrainingData,
  options: TrainerOptions,
  logger: Logger,
  step: StepFunction = trainStep,
): Promise<TrainingOutcome> {
  validateTrainerOptions(options);
  const tasks = Object.keys(options.taskWeights);
  const checkpoints = checkpointDir(options.runDir);
  await mkdir(checkpoints, { recursive: true });
  const stepLog = new StepLog(join(options.runDir, 'steps.jsonl'));
  const validationLog = new StepLog(join(options.runDir, 'validation.jsonl'));

  const sampler = createSampler(options.sampler, data, {
    batchSize: options.batchSize,
    maxLength: options.maxLength,
    features: options.features,
    tasks,
    seed: options.seed,
    bucketBatches: options.bucketBatches,
    ...(options.maskProbability === undefined ? {} : { maskProbability: options.maskProbability }),
  });
  const trainable = new Map([...model.variables].filter(([, variable]) => variable.trainable));
  const optimizer = new AdamW(trainable, options.adamw);
  // The optimizer's moment variables are freed however the run ends, setup errors included.
  try {
    const start = await restoreOrStart(model, data, options, { sampler, optimizer, stepLog, validationLog }, logger);

    const validation = sampleEvaluationSet(buildEvaluationSet(data, 'validation', options.evalTargets, options.maxLength), options.evalMaxExamples, options.seed);
    if (validation.examples.length === 0) {
      logger.warn({ dataset: data.manifest.dataset }, 'the validation split has no example: early stopping is off and best is the last checkpoint');
    }

    const session = new TrainingSession(model, data, options, logger, { sampler, optimizer, validation, stepLog, validationLog, tasks, step });
    return await session.run(start.step, start.progress, start.random);
  } finally {
    optimizer.dispose();
  }
}

/** The starting point of a run: step, counters and dropout generator. */
interface StartState {
  step: number;
  progress: TrainerProgress;
  random: Random;
}

/**
 * Restores the state of `last` into the model, optimizer and sampler when `resume` is
 * set, and drops log lines past its step. A new run gets the initial state instead, and
 * is rejected when the run directory already contains a checkpoint.
 */
async function restoreOrStart(
  model: TrainableModel,
  data: TrainingData,
  options: TrainerOptions,
  parts: { sampler: BatchSampler; optimizer: AdamW; stepLog: StepLog; validationLog: StepLog },
  logger: Logger,
): Promise<StartState> {
  const checkpoints = checkpointDir(options.runDir);
  const existing = await readCheckpointMeta(checkpoints, 'last');

  if (options.resume) {
    if (existing === null) throw new Error(`--resume: no last checkpoint in ${checkpoints}; start the run without --resume`);
    const checkpoint = await loadCheckpoint(checkpoints, 'last');
    checkFingerprint(checkpoint.meta, data.manifest.fingerprint, data.dir);
    if (checkpoint.optimizer === null) throw new Error(`${checkpoints}/last.json has no optimizer state, so the run cannot resume from it`);
    model.setWeights(checkpoint.weights);
    parts.optimizer.setState(checkpoint.optimizer);
    parts.sampler.setState(checkpoint.meta.sampler);
    await parts.stepLog.truncateAfter(checkpoint.meta.step);
    await parts.validationLog.truncateAfter(checkpoint.meta.step);
    logger.info({ step: checkpoint.meta.step, checkpoint: join(checkpoints, 'last.json') }, 'resuming training');
    return { step: checkpoint.meta.step, progress: checkpoint.meta.progress, random: new Random(checkpoint.meta.random) };
  }

  if (existing !== null) {
    throw new Error(`${options.runDir} already contains a checkpoint (step ${existing.step}); pass --resume to continue it, or choose a new --out`);
  }
  if (existsSync(parts.stepLog.path)) {
    await parts.stepLog.truncateAfter(0);
    await parts.validationLog.truncateAfter(0);
  }
  return {
    step: 0,
    progress: { trainingSeconds: 0, sequences: 0, bestValidationNdcg: null, bestStep: null, evaluationsWithoutImprovement: 0 },
    random: new Random((options.seed ^ 0x68e31da4) >>> 0),
  };
}

interface SessionParts {
  sampler: BatchSampler;
  optimizer: AdamW;
  validation: EvaluationSet;
  stepLog: StepLog;
  validationLog: StepLog;
  tasks: string[];
  step: StepFunction;
}

/** The loop of one invocation, with the state that a checkpoint captures. */
class TrainingSession {
  private step = 0;
  private progress!: TrainerProgress;
  private random!: Random;
  private lastCheckpointStep: number | null = null;
  private readonly throughput = new ThroughputWindow();

  constructor(
    private readonly model: TrainableModel,
    private readonly data: TrainingData,
    private readonly options: TrainerOptions,
    private readonly logger: Logger,
    private readonly parts: SessionParts,
  ) {}

  async run(step: number, progress: TrainerProgress, random: Random): Promise<TrainingOutcome> {
    this.step = step;
    this.progress = progress;
    this.random = random;
    this.lastCheckpointStep = step > 0 ? step : null;
    const { options, logger, parts } = this;
    const budgetMs = options.budgetMinutes * 60_000;
    const start = performance.now();
    const bar = startProgress(logger, 'train', options.maxSteps ?? 0, 'steps');
    logger.info(
      { runDir: options.runDir, model: options.modelName, step, maxSteps: options.maxSteps ?? null, budgetMinutes: options.budgetMinutes, tasks: parts.tasks },
      'training started',
    );

    let stopReason: StopReason | null = null;
    let evaluatedAt = -1;
    try {
      while (stopReason === null) {
        if (options.maxSteps !== undefined && this.step >= options.maxSteps) {
          stopReason = 'max-steps';
          break;
        }
        if (performance.now() - start >= budgetMs) {
          stopReason = 'budget';
          break;
        }

        await this.runStep(bar);

        if (this.step % options.evalEvery === 0) {
          evaluatedAt = this.step;
          if (await this.evaluateAndCheckpoint(start)) stopReason = 'early-stopping';
        }
      }
      if (evaluatedAt !== this.step) await this.evaluateAndCheckpoint(start);
    } finally {
      bar.stop();
    }

    const wallSeconds = (performance.now() - start) / 1000;
    logger.info({ step: this.step, stopReason, wallSeconds, bestStep: this.progress.bestStep, bestValidationNdcg: this.progress.bestValidationNdcg }, 'training stopped');
    return {
      steps: this.step,
      stopReason,
      wallSeconds,
      progress: this.progress,
      selectedCheckpoint: this.progress.bestStep === null ? 'last' : 'best',
    };
  }

  private async runStep(bar: { update(done: number, fields?: Record<string, string | number>): void }): Promise<void> {
    const { options, parts } = this;
    const stepStart = performance.now();
    const sampled = parts.sampler.next();
    const learningRate = learningRateAt(this.step, options.schedule);

    let result;
    try {
      result = await parts.step(this.model, parts.optimizer, sampled, {
        taskWeights: options.taskWeights,
        learningRate,
        clipNorm: options.clipNorm,
        random: this.random,
        step: this.step + 1,
      });
    } catch (error) {
      if (error instanceof NonFiniteLossError) {
        this.logger.error(
          { step: error.step, customerIds: error.customerIds, taskLosses: error.taskLosses, lastCheckpointStep: this.lastCheckpointStep },
          'training stopped: the loss is not finite; the last checkpoint was left as it was',
        );
        throw error;
      }
      if (isWasmMemoryError(error)) {
        const { batchSize, length } = sampled.batch;
        this.logger.error({ step: this.step + 1, batchSize, length, lastCheckpointStep: this.lastCheckpointStep }, 'training stopped: the wasm backend ran out of memory');
        throw new Error(
          `step ${this.step + 1} failed on the wasm backend (${(error as Error).message}) with a batch of ${batchSize} histories padded to ${length} events. ` +
            'The wasm heap is limited to 4 GiB, so lower --customers-per-batch or --max-length, or use the tensorflow backend (@tensorflow/tfjs-node)',
          { cause: error },
        );
      }
      throw error;
    }

    this.step++;
    if (result.randomState !== undefined) this.random = new Random(result.randomState);
    const seconds = (performance.now() - stepStart) / 1000;
    const sequencesPerSecond = sampled.examples.length / seconds;
    this.progress.sequences += sampled.examples.length;
    this.progress.trainingSeconds += seconds;
    this.throughput.add(sampled.examples.length, seconds);
    parts.stepLog.append({
      step: this.step,
      epoch: sampled.epoch,
      loss: result.loss,
      taskLosses: result.taskLosses,
      learningRate,
      gradientNorm: result.gradientNorm,
      clipped: result.clipped,
      sequencesPerSecond,
      seconds,
      ...result.record,
    });

    const fields: Record<string, string | number> = {};
    for (const [task, loss] of Object.entries(result.taskLosses)) fields[task] = loss.toFixed(3);
    fields['seq/s'] = this.throughput.rate().toFixed(1);
    bar.update(this.step, fields);
  }

  /** Scores the validation sample, writes the checkpoints and returns whether patience ran out. */
  private async evaluateAndCheckpoint(start: number): Promise<boolean> {
    const { options, parts, logger } = this;
    const evaluationStart = performance.now();
    let metrics: Record<string, TaskMetrics> | null = null;
    let improved = false;

    if (parts.validation.examples.length > 0) {
      metrics = evaluateScorer(modelScorer(options.modelName, this.model), parts.validation.examples, {
        features: options.features,
        tasks: parts.tasks,
        vocabularySizes: options.vocabularySizes,
        ks: [PRIMARY_K],
        batchSize: options.evalBatchSize,
        excludeSeen: options.excludeSeen === true,
      });
      const score = meanNdcg(metrics, PRIMARY_K);
      improved = this.progress.bestValidationNdcg === null || score > this.progress.bestValidationNdcg;
      if (improved) {
        this.progress.bestValidationNdcg = score;
        this.progress.bestStep = this.step;
        this.progress.evaluationsWithoutImprovement = 0;
      } else {
        this.progress.evaluationsWithoutImprovement++;
      }
      const seconds = (performance.now() - evaluationStart) / 1000;
      this.progress.trainingSeconds += seconds;
      parts.validationLog.append({ step: this.step, [`meanNdcg@${PRIMARY_K}`]: score, examples: parts.validation.examples.length, tasks: metrics, seconds });
      logger.info(
        { step: this.step, [`meanNdcg@${PRIMARY_K}`]: Number(score.toFixed(5)), best: this.progress.bestValidationNdcg, bestStep: this.progress.bestStep, seconds },
        'validation',
      );
    }

    if (improved) await this.writeCheckpoint('best', metrics);
    await this.writeCheckpoint('last', metrics);

    const patienceExhausted = metrics !== null && this.progress.evaluationsWithoutImprovement >= options.patience;
    if (patienceExhausted) {
      logger.info(
        { step: this.step, bestStep: this.progress.bestStep, patience: options.patience, elapsedSeconds: (performance.now() - start) / 1000 },
        'early stopping: validation NDCG@10 did not improve',
      );
    }
    return patienceExhausted;
  }

  private async writeCheckpoint(kind: CheckpointKind, validation: Record<string, TaskMetrics> | null): Promise<void> {
    const { options, parts } = this;
    const input: CheckpointInput = {
      step: this.step,
      dataset: this.data.manifest.dataset,
      manifestFingerprint: this.data.manifest.fingerprint,
      model: options.modelName,
      modelConfig: options.modelConfig,
      training: trainingRecord(options),
      random: this.random.getState(),
      sampler: parts.sampler.getState(),
      progress: { ...this.progress },
      validation,
    };
    const optimizer = kind === 'last' ? parts.optimizer.getState() : null;
    const weights = this.model.getWeights();
    const meta = await saveCheckpoint(checkpointDir(options.runDir), kind, input, weights, optimizer);
    if (kind === 'last') this.lastCheckpointStep = this.step;
    this.logger.info({ step: this.step, kind, file: meta.tensorsFile, tensors: meta.tensors.length }, 'checkpoint written');
  }
}

/** Returns the options as stored in checkpoints: everything but the run directory. */
function trainingRecord(options: TrainerOptions): Record<string, unknown> {
  const { runDir: _runDir, modelConfig: _modelConfig, ...rest } = options;
  return rest;
}

function validateTrainerOptions(options: TrainerOptions): void {
  validateSchedule(options.schedule);
  if (Object.keys(options.taskWeights).length === 0) throw new Error('no task to train: taskWeights is empty');
  if (!(options.budgetMinutes > 0)) throw new Error(`budget must be > 0 minutes, got ${options.budgetMinutes}`);
  if (options.maxSteps !== undefined && (!Number.isInteger(options.maxSteps) || options.maxSteps < 0)) {
    throw new Error(`max steps must be an integer >= 0, got ${options.maxSteps}`);
  }
  if (!Number.isInteger(options.evalEvery) || options.evalEvery < 1) throw new Error(`eval-every must be a positive number of steps, got ${options.evalEvery}`);
  if (!Number.isInteger(options.patience) || options.patience < 1) throw new Error(`patience must be a positive number of evaluations, got ${options.patience}`);
  if (!Number.isInteger(options.evalMaxExamples) || options.evalMaxExamples < 1) {
    throw new Error(`eval-max-examples must be a positive integer, got ${options.evalMaxExamples}`);
  }
  if (!(options.clipNorm > 0)) throw new Error(`clip norm must be > 0 (Infinity turns clipping off), got ${options.clipNorm}`);
}

/**
 * Tells whether `error` is the trap a tfjs wasm kernel raises when an allocation did not
 * fit the wasm heap. tfjs 4.22 reports no allocation failure of its own on that backend.
 */
function isWasmMemoryError(error: unknown): boolean {
  return error instanceof Error && error.name === 'RuntimeError' && error.message.includes('memory access out of bounds');
}
