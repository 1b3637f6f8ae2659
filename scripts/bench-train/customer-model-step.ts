import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import * as currentModel from '@mcm/model';
import { modelConfigFromManifest, registerWasmTrainingKernels, type ModelConfig } from '@mcm/model';
import { loadNativeKernels } from '@mcm/native-kernels';
import {
  AdamW,
  createSampler,
  loadTrainingData,
  RANDOM_PREFIX_SAMPLER,
  trainStep,
  TRAINING_DEFAULTS,
  type TrainableModel,
  type TrainingData,
} from '@mcm/training';

/** Settings of the CustomerModel step benchmark. */
export interface CustomerModelBenchOptions {
  /** Repository root, where the pipeline CLI and datasets/synth.json are. */
  root: string;
  /** An ingest output to train on. When undefined, a synthetic dataset is generated and ingested. */
  data?: string;
  /** Customers of the generated synthetic dataset. */
  customers: number;
  batch: number;
  steps: number;
  warmup: number;
  /** Times each model source with the native module on and off this many times, in alternating order. */
  rounds: number;
  /**
   * The `src` folder of another checkout's packages/model, whose CustomerModel is timed
   * alongside this one's. It must lie inside this repository (for example under out/),
   * so that it imports the same tfjs instance from node_modules.
   */
  baselineModel?: string;
}

/** The part of a @mcm/model module that this benchmark uses, which a baseline checkout has too. */
interface ModelModule {
  CustomerModel: { create(config: ModelConfig, seed: number): TrainableModel };
}

interface ModelSource {
  label: string;
  module: ModelModule;
}

interface RunResult {
  source: string;
  native: boolean;
  /** Wall milliseconds of all timed steps together. */
  totalMs: number;
  cpuMsPerStep: number;
  sequences: number;
  lastLoss: number;
}

/**
 * Times `trainStep` of the real CustomerModel, as `trainer:train` runs it: the default MCM
 * model for the dataset's manifest (every task feature, attentional readout), random-prefix
 * batches with length bucketing, AdamW with the trainer's defaults and gradient clipping.
 * Every run draws the same batches from the same seed, so the runs compare the same work.
 */
export async function benchCustomerModelStep(options: CustomerModelBenchOptions): Promise<void> {
  const work = options.data === undefined ? mkdtempSync(join(tmpdir(), 'mcm-bench-model-')) : undefined;
  try {
    const dataDir = options.data ?? synthesizeDataset(options.root, options.customers, work!);
    const data = await loadTrainingData(resolve(dataDir));
    const config = modelConfigFromManifest(data.manifest, { tasks: data.manifest.tasks });

    const sources: ModelSource[] = [{ label: 'this checkout', module: currentModel as unknown as ModelModule }];
    if (options.baselineModel !== undefined) {
      const entry = pathToFileURL(resolve(options.baselineModel, 'index.ts')).href;
      sources.unshift({ label: 'baseline', module: (await import(entry)) as ModelModule });
    }

    printSetup(options, data, config);
    // The native module's kernels exist on wasm only, so elsewhere every run is a "native off" run.
    const onWasm = tf.getBackend() === 'wasm';
    const nativeSettings = onWasm && loadNativeKernels().kernels !== undefined ? [true, false] : [false];
    // An untimed run first pays the process's one-time costs (compiling, growing the wasm
    // heap to the largest batch), which would otherwise fall on the first timed run.
    if (onWasm) registerWasmTrainingKernels({ nativeKernels: nativeSettings[0]! });
    timeSteps(sources[0]!, nativeSettings[0]!, data, config, options);

    const results: RunResult[] = [];
    for (let round = 0; round < options.rounds; round++) {
      // Alternating the order spreads a load that drifts during the run over every source.
      const ordered = round % 2 === 0 ? sources : [...sources].reverse();
      for (const native of nativeSettings) {
        if (onWasm) registerWasmTrainingKernels({ nativeKernels: native });
        for (const source of ordered) {
          const result = timeSteps(source, native, data, config, options);
          results.push(result);
          printRun(round, result, options.batch);
        }
      }
    }
    if (onWasm) registerWasmTrainingKernels();
    console.log(`load average after: ${formatLoad()}`);
    printSummary(results, sources, nativeSettings);
  } finally {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  }
}

/** Generates `customers` synthetic customers, ingests them with datasets/synth.json and returns the ingest output directory. */
export function synthesizeDataset(root: string, customers: number, work: string): string {
  const tsx = join(root, 'node_modules/.bin/tsx');
  const raw = join(work, 'raw');
  const data = join(work, 'data');
  const commands = [
    ['synth', '--customers', String(customers), '--seed', '1', '--out', raw],
    ['ingest', '--config', 'datasets/synth.json', '--data-root', raw, '--out', data],
  ];
  for (const args of commands) {
    const run = spawnSync(tsx, ['apps/pipeline/src/cli.ts', ...args], { cwd: root, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`pipeline ${args[0]} failed: ${run.stderr.trim().split('\n').pop()}`);
  }
  return data;
}

/** Runs warmup + steps training steps of a fresh model from `source` and returns the timed steps' totals. */
function timeSteps(source: ModelSource, native: boolean, data: TrainingData, config: ModelConfig, options: CustomerModelBenchOptions): RunResult {
  const model = source.module.CustomerModel.create(config, TRAINING_DEFAULTS.seed);
  const optimizer = new AdamW(model.variables, {
    beta1: TRAINING_DEFAULTS.beta1,
    beta2: TRAINING_DEFAULTS.beta2,
    epsilon: TRAINING_DEFAULTS.epsilon,
    weightDecay: TRAINING_DEFAULTS.weightDecay,
  });
  const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, {
    batchSize: options.batch,
    maxLength: config.maxLength,
    features: config.features.map((feature) => feature.name),
    tasks: config.tasks.map((task) => task.name),
    seed: TRAINING_DEFAULTS.seed,
    bucketBatches: TRAINING_DEFAULTS.bucketBatches,
  });
  const random = new Random(TRAINING_DEFAULTS.seed);
  const taskWeights = Object.fromEntries(config.tasks.map((task) => [task.name, 1]));

  let totalMs = 0;
  let cpuMs = 0;
  let sequences = 0;
  let lastLoss = Number.NaN;
  try {
    for (let step = 1; step <= options.warmup + options.steps; step++) {
      // Drawing the batch is the sampler's work, outside the step the trainer times too.
      const sampled = sampler.next();
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      const result = trainStep(model, optimizer, sampled, {
        taskWeights,
        learningRate: TRAINING_DEFAULTS.learningRate,
        clipNorm: TRAINING_DEFAULTS.clipNorm,
        random,
        step,
      });
      if (step <= options.warmup) continue;
      totalMs += performance.now() - start;
      const cpu = process.cpuUsage(cpuStart);
      cpuMs += (cpu.user + cpu.system) / 1000;
      sequences += sampled.batch.batchSize;
      lastLoss = result.loss;
    }
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  return { source: source.label, native, totalMs, cpuMsPerStep: cpuMs / options.steps, sequences, lastLoss };
}

function printSetup(options: CustomerModelBenchOptions, data: TrainingData, config: ModelConfig): void {
  const features = config.features.map((feature) => `${feature.name} (${feature.vocabularySize})`).join(', ');
  console.log(`CustomerModel trainStep: ${data.manifest.dataset}, ${data.stats.customers} customers, ${data.stats.trainingEvents} training events`);
  console.log(
    `model: ${config.readout} readout, hidden ${config.hidden}, ${config.layers} ${config.normalization}-LN blocks, ${config.heads} heads, ` +
      `FFN ${config.ffnWidth}, dropout ${config.dropout}, attention dropout ${config.attentionDropout}, maxLength ${config.maxLength}`,
  );
  console.log(`features: ${features}; tasks: ${config.tasks.map((task) => task.name).join(', ')}`);
  console.log(
    `steps: random-prefix batches of ${options.batch}, bucketing ${TRAINING_DEFAULTS.bucketBatches}, AdamW, ` +
      `${options.warmup} warm-up + ${options.steps} timed steps per run, ${options.rounds} round(s)`,
  );
  if (options.baselineModel !== undefined) console.log(`baseline: the CustomerModel of ${options.baselineModel}`);
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, tfjs ${tf.version_core}, backend ${tf.getBackend()}`);
  const load = loadNativeKernels();
  console.log(`native kernels: ${load.kernels === undefined ? `not built (${load.reason}); runs without them only` : `${load.kernels.blasInfo()}, ${load.threads} thread(s)`}`);
  console.log(`load average before: ${formatLoad()}`);
}

function printRun(round: number, result: RunResult, batch: number): void {
  const sequencesPerSecond = (result.sequences / result.totalMs) * 1000;
  const msPerStep = (result.totalMs / result.sequences) * batch;
  console.log(
    `round ${round + 1}  ${result.source.padEnd(13)} native ${result.native ? 'on ' : 'off'}  ` +
      `${msPerStep.toFixed(1).padStart(8)} ms / step  ${sequencesPerSecond.toFixed(1).padStart(7)} sequences / s  ` +
      `CPU ${result.cpuMsPerStep.toFixed(1)} ms / step  loss ${result.lastLoss.toFixed(4)}`,
  );
}

/** Prints each source's sequences per second over all rounds, and the ratio to the first source. */
function printSummary(results: RunResult[], sources: ModelSource[], nativeSettings: boolean[]): void {
  console.log('sequences / s over all rounds (CPU ms / step):');
  for (const native of nativeSettings) {
    const rates = sources.map((source) => {
      const runs = results.filter((result) => result.source === source.label && result.native === native);
      const sequences = runs.reduce((sum, run) => sum + run.sequences, 0);
      const totalMs = runs.reduce((sum, run) => sum + run.totalMs, 0);
      const cpuMs = runs.reduce((sum, run) => sum + run.cpuMsPerStep, 0) / runs.length;
      return { label: source.label, rate: (sequences / totalMs) * 1000, cpuMs };
    });
    const first = rates[0]!;
    for (const { label, rate, cpuMs } of rates) {
      const ratio = label === first.label ? '' : `, ${(rate / first.rate).toFixed(2)}x the first`;
      console.log(`  native ${native ? 'on ' : 'off'}  ${label.padEnd(13)} ${rate.toFixed(1).padStart(7)} (${cpuMs.toFixed(1)})${ratio}`);
    }
  }
}

function formatLoad(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
}
