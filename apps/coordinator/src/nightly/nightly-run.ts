import { spawn } from 'node:child_process';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic, type Logger } from '@mcm/common';
import { CustomerModel, type ModelConfig } from '@mcm/model';
import {
  buildEvaluationSet,
  checkpointDir,
  evaluateScorer,
  loadCheckpoint,
  loadTrainingData,
  meanNdcg,
  modelScorer,
  PRIMARY_K,
  readCheckpointMeta,
  sampleEvaluationSet,
  type TrainerOptions,
  type TrainingData,
} from '@mcm/training';
import type { NightlyConfig } from './nightly-config.ts';
import { warmStartModel } from './warm-start.ts';

const PIPELINE_CLI = fileURLToPath(new URL('../../../pipeline/src/cli.ts', import.meta.url));
const COORDINATOR_CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));

/** The promoted model: `<root>/current.json`. */
export interface PromotedModel {
  night: string;
  run: string;
  data: string;
  /** Mean validation NDCG@10 of the run on its own night's validation split. */
  validationNdcg: number;
  promotedAt: string;
}

/** One line of `<root>/nightly.jsonl`. */
export interface NightlyOutcome {
  night: string;
  data: string;
  run: string;
  previousRun: string | null;
  /** Mean NDCG@10 of the new run and of the promoted model, both on this night's validation sample. */
  validationNdcg: number;
  previousValidationNdcg: number | null;
  tolerance: number;
  promoted: boolean;
  reason: string;
  seconds: number;
}

/** The two long steps of a night, replaceable in tests. */
export interface NightlySteps {
  ingest(config: NightlyConfig, outDir: string): Promise<void>;
  /** Pre-trains a run on `dataDir` into `runDir`, warm-started from `warmStartFrom` when it is not null. */
  train(config: NightlyConfig, dataDir: string, runDir: string, warmStartFrom: string | null): Promise<void>;
}

/** Steps that run `pipeline ingest` and `coordinator start` as child processes, with their output in this process's. */
export function childProcessSteps(logger: Logger): NightlySteps {
  return {
    ingest: (config, outDir) =>
      runChild(logger, 'ingest', [PIPELINE_CLI, 'ingest', '--config', config.datasetConfig, '--out', outDir, ...(config.dataRoot === undefined ? [] : ['--data-root', config.dataRoot])]),
    train: (config, dataDir, runDir, warmStartFrom) =>
      runChild(logger, 'pre-training', [
        COORDINATOR_CLI,
        'start',
        '--data',
        dataDir,
        '--out',
        runDir,
        ...(warmStartFrom === null ? [] : ['--warm-start', warmStartFrom]),
        ...(config.queuePrefix === undefined ? [] : ['--queue-prefix', config.queuePrefix]),
        ...config.trainArguments,
      ]),
  };
}

/**
 * Runs one night. It ingests the logs into `<root>/data/<night>` and pre-trains
 * `<root>/runs/<night>` warm-started from the promoted model. Then it scores the new run
 * and the promoted model on the same sample of the new validation split, and promotes the
 * new run (rewrites `<root>/current.json`) unless its mean NDCG@10 is more than
 * `tolerance` below the promoted model's. The outcome goes to `<root>/nightly.jsonl`.
 */
export async function runNightly(config: NightlyConfig, night: string, steps: NightlySteps, logger: Logger): Promise<NightlyOutcome> {
  const start = performance.now();
  const dataDir = join(config.root, 'data', night);
  const runDir = join(config.root, 'runs', night);
  await mkdir(join(config.root, 'runs'), { recursive: true });
  const previous = await readPromotedModel(config.root);
  logger.info({ night, data: dataDir, run: runDir, previousRun: previous?.run ?? null }, 'nightly pre-training started');

  await steps.ingest(config, dataDir);
  await steps.train(config, dataDir, runDir, previous?.run ?? null);

  const data = await loadTrainingData(dataDir);
  const runConfig = JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8')) as { modelConfig: ModelConfig; training: Omit<TrainerOptions, 'runDir' | 'modelConfig' | 'resume'> };
  const validationNdcg = await scoreRun(runDir, runConfig, data, null, logger);
  const previousValidationNdcg = previous === null ? null : await scoreRun(runDir, runConfig, data, previous.run, logger);

  let promoted: boolean;
  let reason: string;
  if (previousValidationNdcg === null) {
    promoted = true;
    reason = 'no model was promoted before';
  } else if (validationNdcg >= previousValidationNdcg - config.tolerance) {
    promoted = true;
    reason = `NDCG@10 ${validationNdcg.toFixed(5)} is within ${config.tolerance} of the promoted model's ${previousValidationNdcg.toFixed(5)} or above`;
  } else {
    promoted = false;
    reason = `NDCG@10 ${validationNdcg.toFixed(5)} is more than ${config.tolerance} below the promoted model's ${previousValidationNdcg.toFixed(5)}`;
  }

  if (promoted) {
    const record: PromotedModel = { night, run: runDir, data: dataDir, validationNdcg, promotedAt: new Date().toISOString() };
    await writeJsonAtomic(promotedModelPath(config.root), record);
  }
  const outcome: NightlyOutcome = {
    night,
    data: dataDir,
    run: runDir,
    previousRun: previous?.run ?? null,
    validationNdcg,
    previousValidationNdcg,
    tolerance: config.tolerance,
    promoted,
    reason,
    seconds: (performance.now() - start) / 1000,
  };
  await appendFile(join(config.root, 'nightly.jsonl'), `${JSON.stringify(outcome)}\n`);
  (promoted ? logger.info.bind(logger) : logger.warn.bind(logger))(outcome, promoted ? 'nightly run promoted' : 'nightly run not promoted; the previous model stays');
  return outcome;
}

/** Path of the record of the promoted model. */
export function promotedModelPath(root: string): string {
  return join(root, 'current.json');
}

/** Returns the promoted model, or null before the first promotion. */
export async function readPromotedModel(root: string): Promise<PromotedModel | null> {
  try {
    return JSON.parse(await readFile(promotedModelPath(root), 'utf8')) as PromotedModel;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Returns the mean validation NDCG@10 of the new run's selected checkpoint, or, when
 * `previousRun` is given, of the previous run's weights mapped onto the new
 * vocabularies (a value the previous model never saw gets its out-of-vocabulary row).
 * Both use the run's seeded validation sample, so they score the same examples.
 */
async function scoreRun(
  runDir: string,
  runConfig: { modelConfig: ModelConfig; training: Omit<TrainerOptions, 'runDir' | 'modelConfig' | 'resume'> },
  data: TrainingData,
  previousRun: string | null,
  logger: Logger,
): Promise<number> {
  const { modelConfig, training } = runConfig;
  const model = CustomerModel.create(modelConfig, training.seed);
  try {
    if (previousRun === null) {
      const directory = checkpointDir(runDir);
      const kind = (await readCheckpointMeta(directory, 'best')) === null ? 'last' : 'best';
      model.setWeights((await loadCheckpoint(directory, kind)).weights);
    } else {
      await warmStartModel(model, data.dir, previousRun, logger, 'oov');
    }
    const set = sampleEvaluationSet(buildEvaluationSet(data, 'validation', training.evalTargets, modelConfig.maxLength), training.evalMaxExamples, training.seed);
    const tasks = Object.keys(training.taskWeights);
    const metrics = evaluateScorer(modelScorer(training.modelName, model), set.examples, {
      features: training.features,
      tasks,
      vocabularySizes: training.vocabularySizes,
      ks: [PRIMARY_K],
      batchSize: training.evalBatchSize,
      excludeSeen: training.excludeSeen === true,
    });
    return meanNdcg(metrics, PRIMARY_K);
  } finally {
    model.dispose();
  }
}

async function runChild(logger: Logger, what: string, args: string[]): Promise<void> {
  logger.info({ step: what, command: ['tsx', ...args].join(' ') }, `nightly ${what} started`);
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  if (code !== 0) throw new Error(`nightly ${what} failed with exit code ${code}; its log is above`);
}
