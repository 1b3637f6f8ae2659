import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createLogger, writeJsonAtomic, type Logger } from '@mcm/common';
import { runIngest } from '@mcm/features';
import { CustomerModel, initBackend, modelConfigFromManifest, type ModelConfig } from '@mcm/model';
import { loadDatasetConfig, type Manifest } from '@mcm/schema';
import { generate, resolveParameters } from '@mcm/synth';
import { loadTrainingData, RANDOM_PREFIX_SAMPLER, train, type TrainerOptions } from '@mcm/training';

/** The dataset config of the generator's output, as a user would pass it to `serve --config`. */
export const SYNTH_CONFIG = resolve(import.meta.dirname, '../../../../datasets/synth.json');

/** A small trained run and the files it came from. */
export interface TinyRun {
  root: string;
  /** Generator output: catalog.csv.gz and events-*.csv.gz, the data root of SYNTH_CONFIG. */
  rawDir: string;
  /** Ingest output. */
  dataDir: string;
  runDir: string;
  manifest: Manifest;
  modelConfig: ModelConfig;
}

/** Creates a logger that writes nothing, so that test output shows only test results. */
export function silentLogger(): Logger {
  const previous = process.env.MCM_LOG_LEVEL;
  process.env.MCM_LOG_LEVEL = 'silent';
  try {
    return createLogger('test');
  } finally {
    if (previous === undefined) delete process.env.MCM_LOG_LEVEL;
    else process.env.MCM_LOG_LEVEL = previous;
  }
}

/**
 * Generates 200 synthetic customers, ingests them with datasets/synth.json, and trains
 * a tiny MCM model (hidden 16, one block) for a few steps, so that the run directory
 * has the trainer's layout: config.json and checkpoints/best.json. Selects the wasm
 * backend. Takes a few seconds.
 */
export async function buildTinyRun(logger: Logger = silentLogger()): Promise<TinyRun> {
  // The servers under test run on wasm too; the cpu backend would train 100 times slower.
  await initBackend('wasm');
  const root = await mkdtemp(join(tmpdir(), 'mcm-serving-test-'));
  const rawDir = join(root, 'raw');
  const dataDir = join(root, 'data');
  const runDir = join(root, 'run');

  await generate({ parameters: resolveParameters({ customers: 200, items: 2000, seed: 7 }), outDir: rawDir });
  const config = await loadDatasetConfig(SYNTH_CONFIG);
  await runIngest({ config, configSource: SYNTH_CONFIG, dataRoot: rawDir, outDir: dataDir, threads: 1, logger });

  const data = await loadTrainingData(dataDir);
  const modelConfig = modelConfigFromManifest(data.manifest, { maxLength: 50, hidden: 16, layers: 1, heads: 2, ffnWidth: 32 });
  const options: TrainerOptions = {
    runDir,
    modelName: 'mcm',
    modelConfig,
    features: modelConfig.features.map((feature) => feature.name),
    vocabularySizes: Object.fromEntries(modelConfig.tasks.map((task) => [task.name, task.vocabularySize])),
    maxLength: modelConfig.maxLength,
    sampler: RANDOM_PREFIX_SAMPLER,
    batchSize: 16,
    bucketBatches: 0,
    seed: 1,
    taskWeights: Object.fromEntries(modelConfig.tasks.map((task) => [task.name, 1])),
    schedule: { peak: 0.01, warmupSteps: 1, decay: 'constant', minRatio: 0.1 },
    adamw: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 },
    clipNorm: 1,
    budgetMinutes: 5,
    maxSteps: 4,
    evalEvery: 2,
    patience: 5,
    evalMaxExamples: 50,
    evalBatchSize: 32,
    evalTargets: 'first',
    resume: false,
  };

  const model = CustomerModel.create(modelConfig, 1);
  try {
    await train(model, data, options, logger);
  } finally {
    model.dispose();
  }

  // The fields of the trainer's config.json; serving reads the data directory from it.
  await writeJsonAtomic(join(runDir, 'config.json'), {
    model: 'mcm',
    data: dataDir,
    dataset: data.manifest.dataset,
    manifestFingerprint: data.manifest.fingerprint,
    modelConfig,
    training: options,
    createdAt: new Date().toISOString(),
  });
  return { root, rawDir, dataDir, runDir, manifest: data.manifest, modelConfig };
}

/** One row of the generator's events files. */
export interface RawEventRow {
  customer_id: string;
  timestamp: string;
  event_type: string;
  item_id: string;
}

/** Reads every events file of the generator output, grouped by customer, in file order. */
export async function readRawEvents(rawDir: string): Promise<Map<string, RawEventRow[]>> {
  const byCustomer = new Map<string, RawEventRow[]>();
  const files = (await readdir(rawDir)).filter((file) => /^events-\d+\.csv\.gz$/.test(file)).sort();
  for (const file of files) {
    const lines = gunzipSync(await readFile(join(rawDir, file))).toString('utf8').trim().split('\n');
    const header = lines[0]!.split(',');
    for (const line of lines.slice(1)) {
      // The generator writes plain tokens, never quoted fields.
      const cells = line.split(',');
      const row = Object.fromEntries(header.map((name, i) => [name, cells[i] ?? ''])) as unknown as RawEventRow;
      const rows = byCustomer.get(row.customer_id) ?? [];
      rows.push(row);
      byCustomer.set(row.customer_id, rows);
    }
  }
  return byCustomer;
}

