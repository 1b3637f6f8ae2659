import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { Logger } from '@mcm/common';
import { CustomerModel, modelConfigFromManifest, type ModelConfig } from '@mcm/model';
import { loadTrainingData, train, type TrainerOptions, type TrainingData } from '@mcm/training';
import { silentLogger } from '../../../training/test/helpers/silent-logger.ts';
import { buildManifest, buildShard, plantedPatternCustomers, writeDataset, PLANTED_VOCABULARIES } from '../../../training/test/helpers/dataset-fixture.ts';
import { resolvePolicy, type QueuePolicy } from '../../src/policy.ts';

/**
 * Timeouts short enough that a lost worker or coordinator is noticed within a second or two.
 * Worker child processes get these as their policy overrides.
 */
export const TEST_POLICY_OVERRIDES: Partial<QueuePolicy> = {
  lockDurationMs: 1_500,
  stalledIntervalMs: 500,
  heartbeatIntervalMs: 200,
  heartbeatTtlMs: 1_000,
  coordinatorLockTtlMs: 2_000,
  pollIntervalMs: 250,
  backoffMs: 100,
  reconnectInitialDelayMs: 50,
  reconnectMaxDelayMs: 500,
  connectTimeoutMs: 2_000,
};

/** Returns the test policy: TEST_POLICY_OVERRIDES, then `overrides`, over the defaults. */
export function testPolicy(overrides: Partial<QueuePolicy> = {}): QueuePolicy {
  return resolvePolicy({ ...TEST_POLICY_OVERRIDES, ...overrides });
}

/** Returns a key prefix that no other test uses. */
export function uniquePrefix(name: string): string {
  return `mcmtest-${name}-${randomBytes(3).toString('hex')}`;
}

/** Writes a dataset to disk: 120 customers with a planted next-category pattern, in two shard files. */
export async function writeFixtureDataset(): Promise<{ dir: string; data: TrainingData; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mcm-queue-data-'));
  const customers = plantedPatternCustomers(120, 7);
  const features = Object.keys(PLANTED_VOCABULARIES);
  const shards = [0, 1].map((part) => buildShard(customers.filter((_, i) => i % 2 === part), features));
  const manifest = { ...buildManifest('queue-fixture', PLANTED_VOCABULARIES, shards, 'queue-fixture-1'), maxLength: 10 };
  await writeDataset(dir, manifest, shards);
  const data = await loadTrainingData(dir);
  return { dir, data, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Returns a tiny MCM model config without dropout, so that every run of a seed computes the same losses. */
export function tinyModelConfig(data: TrainingData): ModelConfig {
  return modelConfigFromManifest(data.manifest, { hidden: 8, layers: 1, heads: 2, ffnWidth: 16, dropout: 0, maxLength: 10 });
}

export function createTinyModel(config: ModelConfig, seed = 3): CustomerModel {
  return CustomerModel.create(config, seed);
}

/** Trainer options of a short run on the fixture. */
export function fixtureTrainerOptions(runDir: string, config: ModelConfig, overrides: Partial<TrainerOptions> = {}): TrainerOptions {
  return {
    runDir,
    modelName: 'mcm',
    modelConfig: config,
    features: config.features.map((feature) => feature.name),
    vocabularySizes: Object.fromEntries(config.tasks.map((task) => [task.name, task.vocabularySize])),
    maxLength: config.maxLength,
    sampler: 'random-prefix',
    batchSize: 16,
    bucketBatches: 2,
    seed: 5,
    taskWeights: { category: 1, brand: 0.5 },
    schedule: { peak: 0.01, warmupSteps: 2, decay: 'constant', minRatio: 0.1 },
    adamw: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 },
    clipNorm: 1,
    budgetMinutes: 10,
    maxSteps: 6,
    evalEvery: 3,
    patience: 10,
    evalMaxExamples: 40,
    evalBatchSize: 32,
    evalTargets: 'first',
    resume: false,
    ...overrides,
  };
}

/** Creates a temporary run directory. */
export async function temporaryRunDir(name: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `mcm-queue-${name}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** One line of steps.jsonl. */
export interface StepLine {
  step: number;
  loss: number;
  taskLosses: Record<string, number>;
  gradientNorm: number;
  workers?: number;
  shards?: number;
  examples?: number;
  redoneShards?: number;
}

export async function readStepLines(runDir: string): Promise<StepLine[]> {
  const text = await readFile(join(runDir, 'steps.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as StepLine);
}

/** Returns a logger whose records land in `records`, for tests that check what was logged. */
export function captureLogger(name: string): { logger: Logger; records: Array<Record<string, unknown> & { msg: string }> } {
  const records: Array<Record<string, unknown> & { msg: string }> = [];
  const logger = pino({ name, level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { logger, records };
}

/** The fixture dataset, its tiny model configuration and the steps of a single-process run on it. */
export interface ReferenceRun {
  fixture: Awaited<ReturnType<typeof writeFixtureDataset>>;
  data: TrainingData;
  config: ModelConfig;
  /** steps.jsonl of the single-process run, the curve every distributed run must match. */
  reference: StepLine[];
}

/**
 * Writes the fixture dataset and trains the single-process reference run on it,
 * `maxSteps` steps or the fixture options' default. The caller removes `fixture`.
 */
export async function trainReferenceRun(maxSteps?: number): Promise<ReferenceRun> {
  const fixture = await writeFixtureDataset();
  const config = tinyModelConfig(fixture.data);

  const run = await temporaryRunDir('reference');
  try {
    const model = createTinyModel(config);
    const overrides = maxSteps === undefined ? {} : { maxSteps };
    await train(model, fixture.data, fixtureTrainerOptions(run.dir, config, overrides), silentLogger());
    model.dispose();
    return { fixture, data: fixture.data, config, reference: await readStepLines(run.dir) };
  } finally {
    await run.remove();
  }
}
