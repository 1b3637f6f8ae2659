import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { CustomerModel, modelConfigFromManifest, registerWasmTrainingKernels, tableRows, type ModelConfig } from '@mcm/model';
import { loadNativeKernels } from '@mcm/native-kernels';
import {
  AdamW,
  createSampler,
  labelCounts,
  loadTrainingData,
  microBatches,
  planMicroBatches,
  RANDOM_PREFIX_SAMPLER,
  trainStep,
  TRAINING_DEFAULTS,
  type SampledBatch,
} from '@mcm/training';
import { synthesizeDataset } from './customer-model-step.ts';

/** The PyTorch version of the CustomerModel step. */
const TORCH_MCM = 'scripts/bench/torch_mcm.py';

/** Layer-norm epsilon of packages/model/src/layer-norm.ts, which the package does not export. */
const LAYER_NORM_EPSILON = 1e-5;

/** Settings of the mcm-against-PyTorch comparison of the CustomerModel step. */
export interface McmVsTorchOptions {
  /** Repository root, where the pipeline CLI, datasets/synth.json and TORCH_MCM are. */
  root: string;
  /** An ingest output to train on. When undefined, a synthetic dataset is generated and ingested. */
  data?: string;
  customers: number;
  batch: number;
  steps: number;
  warmup: number;
  /** torch intra-op thread counts to run, one run each. */
  torchThreads: number[];
  /** A Python that imports torch, or undefined when none was found. */
  python?: string;
}

interface Timing {
  label: string;
  totalMs: number;
  sequences: number;
  detail: string;
}

/**
 * Times `trainStep` of the default CustomerModel and the same model's step in PyTorch
 * (TORCH_MCM) on the same batches, drawn once by the trainer's random-prefix sampler and
 * written to a JSON file for PyTorch. mcm runs before and after the PyTorch runs, and its
 * rate is over both runs, so a load that drifts during the run falls on both sides.
 */
export async function compareMcmWithTorch(options: McmVsTorchOptions): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'mcm-vs-torch-'));
  try {
    const dataDir = options.data ?? synthesizeDataset(options.root, options.customers, work);
    const data = await loadTrainingData(resolve(dataDir));
    const config = modelConfigFromManifest(data.manifest, { tasks: data.manifest.tasks });
    const batches = drawBatches(data, config, options);
    const batchFile = join(work, 'batches.json');
    writeFileSync(batchFile, JSON.stringify(torchSpec(config, batches, options.warmup)));

    const native = tf.getBackend() === 'wasm' && loadNativeKernels().kernels !== undefined;
    if (tf.getBackend() === 'wasm') registerWasmTrainingKernels({ nativeKernels: native });
    printSetup(config, batches, options, native);

    const mcmLabel = `mcm (native ${native ? 'on' : 'off'})`;
    // An untimed run first pays the process's one-time costs (compiling, growing the wasm heap).
    timeMcm(config, batches, options.warmup, mcmLabel);
    const mcmRuns: Timing[] = [timeMcm(config, batches, options.warmup, mcmLabel)];
    printTiming(mcmRuns[0]!, options.batch);
    const torchRuns: Timing[] = [];
    for (const threads of options.torchThreads) {
      const result = runTorch(options, batchFile, threads);
      if ('skipped' in result) {
        console.log(`pytorch (${threads} threads) skipped: ${result.skipped}`);
        continue;
      }
      torchRuns.push(result.timing);
      printTiming(result.timing, options.batch);
    }
    mcmRuns.push(timeMcm(config, batches, options.warmup, mcmLabel));
    printTiming(mcmRuns[1]!, options.batch);
    console.log(`load average after: ${formatLoad()}`);

    const mcmRate = rate(mcmRuns);
    console.log(`mcm over both runs: ${mcmRate.toFixed(1)} sequences / s`);
    const fastest = torchRuns.length === 0 ? undefined : Math.max(...torchRuns.map((run) => rate([run])));
    const ratio = fastest === undefined ? 'n/a' : (fastest / mcmRate).toFixed(2);
    console.log(`ratio (pytorch / mcm sequences per second, MCM model): ${ratio}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Draws warmup + steps batches as `trainer:train` does, with the trainer's seed. */
function drawBatches(data: Awaited<ReturnType<typeof loadTrainingData>>, config: ModelConfig, options: McmVsTorchOptions): SampledBatch[] {
  const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, {
    batchSize: options.batch,
    maxLength: config.maxLength,
    features: config.features.map((feature) => feature.name),
    tasks: config.tasks.map((task) => task.name),
    seed: TRAINING_DEFAULTS.seed,
    bucketBatches: TRAINING_DEFAULTS.bucketBatches,
  });
  return Array.from({ length: options.warmup + options.steps }, () => sampler.next());
}

/**
 * Builds the JSON that TORCH_MCM reads: the model and optimizer settings, and each step's
 * micro-batches as trainStep cuts them, with each micro-batch's share of every task's
 * labelled rows.
 */
function torchSpec(config: ModelConfig, batches: SampledBatch[], warmup: number): unknown {
  const tasks = config.tasks.map((task) => task.name);
  const features = config.features.map((feature) => ({
    name: feature.name,
    rows: tableRows(config, feature),
    width: batches[0]!.batch.features[feature.name]!.width,
  }));
  const steps = batches.map((sampled) => {
    const parts = microBatches(sampled, planMicroBatches(sampled.examples, TRAINING_DEFAULTS.maxBatchCells), tasks);
    const counts = parts.map((part) => labelCounts(part.labels, tasks));
    const totals = Object.fromEntries(tasks.map((task) => [task, counts.reduce((sum, count) => sum + count[task]!, 0)]));
    return parts.map((part, index) => {
      for (const feature of features) {
        const width = part.batch.features[feature.name]!.width;
        // NOTE: TORCH_MCM takes one width per feature; a multi-valued feature whose width varies by batch would need one per batch.
        if (width !== feature.width) throw new Error(`feature "${feature.name}" has width ${width} in a later batch but ${feature.width} in the first`);
      }
      return {
        batchSize: part.batch.batchSize,
        length: part.batch.length,
        lengths: Array.from(part.batch.lengths),
        features: Object.fromEntries(Object.entries(part.batch.features).map(([name, column]) => [name, Array.from(column.ids)])),
        labels: Object.fromEntries(tasks.map((task) => [task, Array.from(part.labels[task]!)])),
        shares: Object.fromEntries(tasks.map((task) => [task, totals[task] === 0 ? 0 : counts[index]![task]! / totals[task]!])),
      };
    });
  });
  return {
    warmup,
    config: {
      features,
      tasks: config.tasks,
      hidden: config.hidden,
      layers: config.layers,
      heads: config.heads,
      ffnWidth: config.ffnWidth,
      dropout: config.dropout,
      maxLength: config.maxLength,
      initStd: config.initStd,
      layerNormEpsilon: LAYER_NORM_EPSILON,
      sampledSoftmaxThreshold: config.sampledSoftmaxThreshold,
      sampledNegatives: config.sampledNegatives,
      learningRate: TRAINING_DEFAULTS.learningRate,
      beta1: TRAINING_DEFAULTS.beta1,
      beta2: TRAINING_DEFAULTS.beta2,
      epsilon: TRAINING_DEFAULTS.epsilon,
      weightDecay: TRAINING_DEFAULTS.weightDecay,
      clipNorm: TRAINING_DEFAULTS.clipNorm,
    },
    steps,
  };
}

/** Runs trainStep on every batch with a fresh model and returns the steps after the warm-up. */
function timeMcm(config: ModelConfig, batches: SampledBatch[], warmup: number, label: string): Timing {
  const model = CustomerModel.create(config, TRAINING_DEFAULTS.seed);
  const optimizer = new AdamW(model.variables, {
    beta1: TRAINING_DEFAULTS.beta1,
    beta2: TRAINING_DEFAULTS.beta2,
    epsilon: TRAINING_DEFAULTS.epsilon,
    weightDecay: TRAINING_DEFAULTS.weightDecay,
  });
  const random = new Random(TRAINING_DEFAULTS.seed);
  const taskWeights = Object.fromEntries(config.tasks.map((task) => [task.name, 1]));

  let totalMs = 0;
  let sequences = 0;
  let loss = Number.NaN;
  try {
    batches.forEach((sampled, index) => {
      const start = performance.now();
      const result = trainStep(model, optimizer, sampled, {
        taskWeights,
        learningRate: TRAINING_DEFAULTS.learningRate,
        clipNorm: TRAINING_DEFAULTS.clipNorm,
        random,
        step: index + 1,
      });
      if (index < warmup) return;
      totalMs += performance.now() - start;
      sequences += sampled.batch.batchSize;
      loss = result.loss;
    });
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  return { label, totalMs, sequences, detail: `loss ${loss.toFixed(4)}` };
}

/** Runs TORCH_MCM on the batch file with `threads` torch threads and one OpenBLAS thread each. */
function runTorch(options: McmVsTorchOptions, batchFile: string, threads: number): { timing: Timing } | { skipped: string } {
  if (options.python === undefined) {
    return { skipped: 'no Python with torch found (tried $MCM_PYTHON, python3, /usr/bin/python3); see docs/benchmarks.md' };
  }
  const script = join(options.root, TORCH_MCM);
  const run = spawnSync(options.python, [script, '--batches', batchFile, '--threads', String(threads)], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
  });
  if (run.status !== 0) return { skipped: `${options.python} ${TORCH_MCM} failed: ${run.stderr.trim().split('\n').pop()}` };

  const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as { engine: string; threads: number; total_ms: number; sequences: number; loss: number };
  return {
    timing: {
      label: `pytorch (${report.engine}, ${report.threads} threads)`,
      totalMs: report.total_ms,
      sequences: report.sequences,
      detail: `loss ${report.loss.toFixed(4)}, OPENBLAS_NUM_THREADS=1`,
    },
  };
}

function printSetup(config: ModelConfig, batches: SampledBatch[], options: McmVsTorchOptions, native: boolean): void {
  const features = config.features.map((feature) => `${feature.name} (${feature.vocabularySize})`).join(', ');
  const tasks = config.tasks
    .map((task) => `${task.name} (${task.vocabularySize}, ${task.vocabularySize > config.sampledSoftmaxThreshold ? `${config.sampledNegatives} sampled negatives` : 'full softmax'})`)
    .join(', ');
  const timed = batches.slice(options.warmup);
  const lengths = timed.map((sampled) => sampled.batch.length);
  const mean = lengths.reduce((sum, length) => sum + length, 0) / lengths.length;
  console.log('CustomerModel training step, mcm against PyTorch on the same batches');
  console.log(
    `model: ${config.readout} readout, hidden ${config.hidden}, ${config.layers} ${config.normalization}-LN blocks, ${config.heads} heads, ` +
      `FFN ${config.ffnWidth}, dropout ${config.dropout}, attention dropout ${config.attentionDropout}, maxLength ${config.maxLength}`,
  );
  console.log(`features: ${features}`);
  console.log(`tasks: ${tasks}`);
  console.log(
    `steps: random-prefix batches of ${options.batch}, ${options.warmup} warm-up + ${options.steps} timed per run, ` +
      `timed batches padded to ${Math.min(...lengths)}..${Math.max(...lengths)} events (mean ${mean.toFixed(1)}); AdamW, clip norm ${TRAINING_DEFAULTS.clipNorm}`,
  );
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, tfjs ${tf.version_core}, backend ${tf.getBackend()}`);
  console.log(`mcm native kernels: ${native ? 'on' : 'off (not built or not on wasm)'}; python: ${options.python ?? 'none'}`);
  console.log(`load average before: ${formatLoad()}`);
}

function printTiming(timing: Timing, batch: number): void {
  const msPerStep = (timing.totalMs / timing.sequences) * batch;
  console.log(
    `${timing.label.padEnd(36)} ${msPerStep.toFixed(1).padStart(8)} ms / step ${rate([timing]).toFixed(1).padStart(8)} sequences / s  (${timing.detail})`,
  );
}

/** Sequences per second over all of `timings` together. */
function rate(timings: Timing[]): number {
  const sequences = timings.reduce((sum, timing) => sum + timing.sequences, 0);
  const totalMs = timings.reduce((sum, timing) => sum + timing.totalMs, 0);
  return (sequences / totalMs) * 1000;
}

function formatLoad(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
}
