/**
 * Training-step benchmark: one BERT4Rec-style Adam step written with the mcm engine,
 * against the same step in PyTorch (the reference script at TORCH_REFERENCE) when a Python
 * with torch is available.
 *
 *   npm run bench:train
 *   npm run bench:train -- --variants engine,no-native,plain --steps 20
 *   npm run bench:train -- --items 100000 --sampled 1024
 *   npm run bench:train -- --ingest-latency
 *   npm run bench:train -- --customer-model --rounds 2
 *   npm run bench:train -- --mcm-vs-torch --steps 40
 *
 * Model (the PyTorch reference's): item embedding and learned positions, post-LN blocks
 * with GELU (erf), last-position readout tied to the item embedding, full softmax (or a
 * sampled one with --sampled), Adam. Prints ms / step and sequences / s for each run, then
 * the ratio of PyTorch's fastest run to mcm's engine.
 *
 * `--customer-model` times the trainer's own step instead: `trainStep` of the real
 * CustomerModel on random-prefix batches of a synthetic dataset, with the native module
 * on and off. `--mcm-vs-torch` times that step against the same model's step in PyTorch
 * (scripts/bench/torch_mcm.py) on the same batches.
 */
// The union package registers tfjs's gradient functions, which tfjs-core's Node bundle lacks.
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Random } from '@mcm/common';
import {
  adamUpdate,
  attention,
  gelu,
  initBackend,
  layerNorm,
  linear,
  LogUniformSampler,
  matMul,
  registerWasmTrainingKernels,
  slicedBatchMatMul,
} from '@mcm/model';
import { loadNativeKernels } from '@mcm/native-kernels';
import { benchCustomerModelStep } from './bench-train/customer-model-step.ts';
import { compareMcmWithTorch } from './bench-train/mcm-vs-torch.ts';
import { measureIngestToFirstStep } from './bench-train/ingest-latency.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TORCH_REFERENCE = join(ROOT, '../shared/bench/torch_reference.py');

interface BenchConfig {
  items: number;
  /** Negatives shared by the batch for a sampled softmax; 0 scores every item. */
  sampled: number;
  length: number;
  hidden: number;
  heads: number;
  layers: number;
  ffn: number;
  batch: number;
  steps: number;
  warmup: number;
}

/** A way of building the step: the ops it multiplies with and the wasm kernels it keeps. */
interface Variant {
  description: string;
  dense: (x: tf.Tensor, kernel: tf.Tensor2D, bias: tf.Tensor1D) => tf.Tensor;
  matMul: (a: tf.Tensor, b: tf.Tensor, transposeA?: boolean, transposeB?: boolean) => tf.Tensor;
  layerNorm: (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D) => tf.Tensor;
  gelu: (x: tf.Tensor) => tf.Tensor;
  /** Multi-head attention over q, k, v [B, T, H] with the additive mask [B, 1, 1, T]. */
  attention: (variant: Variant, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, mask: tf.Tensor4D, heads: number) => tf.Tensor3D;
  zeroCopyIdentity: boolean;
  slicedBatchMatMul: boolean;
  sliceGather: boolean;
  /** Whether the native kernel module (OpenBLAS products, C GELU, layer norm, Adam) is used when built. */
  nativeKernels: boolean;
  /** `fused`: the engine's one-kernel adamUpdate; `tfjs`: tf.train.adam. */
  optimizer: 'fused' | 'tfjs';
}

const LAYER_NORM_EPSILON = 1e-12;
const fusedLayerNorm = (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D) => layerNorm(x, gamma, beta, LAYER_NORM_EPSILON);

/** Layer norm written as plain tfjs ops, which tfjs differentiates kernel by kernel. */
function formulaLayerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D): tf.Tensor {
  const centered = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(centered), -1, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, LAYER_NORM_EPSILON))), gamma), beta);
}

/** GELU (erf) written as plain tfjs ops. */
function formulaGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

const fusedAttention: Variant['attention'] = (_variant, q, k, v, mask, heads) => attention(q, k, v, mask, heads);

/** The engine as the trainer runs it; every other variant changes one or two of its parts. */
const ENGINE_VARIANT: Variant = {
  description: 'engine ops and kernels (native module when built)',
  dense: (x, kernel, bias) => linear(x, kernel, bias),
  matMul,
  layerNorm: fusedLayerNorm,
  gelu,
  attention: fusedAttention,
  zeroCopyIdentity: true,
  slicedBatchMatMul: true,
  sliceGather: true,
  nativeKernels: true,
  optimizer: 'fused',
};

const VARIANTS: Record<string, Variant> = {
  engine: ENGINE_VARIANT,
  'composed-attention': {
    ...ENGINE_VARIANT,
    description: 'engine with attention as tfjs ops (head transposes, scale, mask, softmax) around matMul',
    attention: composedAttention,
  },
  'no-native': { ...ENGINE_VARIANT, description: 'engine with every product on XNNPACK, without the native kernel module', nativeKernels: false },
  plain: {
    description: 'tf.matMul and tf.add with tfjs gradients, stock wasm kernels',
    dense: (x, kernel, bias) => tf.add(tf.matMul(x, kernel), bias),
    matMul: tf.matMul,
    layerNorm: formulaLayerNorm,
    gelu: formulaGelu,
    attention: composedAttention,
    zeroCopyIdentity: false,
    slicedBatchMatMul: false,
    sliceGather: false,
    nativeKernels: false,
    optimizer: 'tfjs',
  },
  'no-sliced': {
    ...ENGINE_VARIANT,
    description: 'no-native without the sliced batch matmul (attention on the scalar loop)',
    slicedBatchMatMul: false,
    nativeKernels: false,
  },
  'no-identity': { ...ENGINE_VARIANT, description: 'engine with the stock, copying Identity kernel', zeroCopyIdentity: false },
  'stock-gather': { ...ENGINE_VARIANT, description: 'engine with the stock GatherV2 kernel', sliceGather: false },
  'formula-norm': {
    ...ENGINE_VARIANT,
    description: 'engine with layer norm and GELU differentiated by tfjs',
    layerNorm: formulaLayerNorm,
    gelu: formulaGelu,
  },
  'tfjs-adam': { ...ENGINE_VARIANT, description: 'engine with tf.train.adam in place of the fused Adam update', optimizer: 'tfjs' },
  'unfused-bias': {
    ...ENGINE_VARIANT,
    description: 'engine with matMul + tf.add in place of linear',
    dense: (x, kernel, bias) => tf.add(matMul(x, kernel), bias),
  },
};

/** Adam through the engine's adamUpdate: one kernel per variable on wasm. */
class FusedAdam {
  private readonly first: tf.Variable[];
  private readonly second: tf.Variable[];
  private steps = 0;

  constructor(
    private readonly variables: tf.Variable[],
    private readonly learningRate: number,
  ) {
    this.first = variables.map((variable) => tf.variable(tf.zerosLike(variable), false));
    this.second = variables.map((variable) => tf.variable(tf.zerosLike(variable), false));
  }

  /** Computes the loss and its gradients, then updates every variable; returns the loss. */
  minimize(loss: () => tf.Scalar, _returnCost: true, variables: tf.Variable[]): tf.Scalar {
    const { value, grads } = tf.variableGrads(loss, variables);
    this.steps += 1;
    const settings = { learningRate: this.learningRate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, step: this.steps, inPlace: true };
    tf.tidy(() => {
      this.variables.forEach((variable, i) => {
        const [next, first, second] = adamUpdate(variable, grads[variable.name]!, this.first[i]!, this.second[i]!, settings);
        variable.assign(next);
        this.first[i]!.assign(first);
        this.second[i]!.assign(second);
      });
    });
    tf.dispose(grads);
    return value;
  }

  dispose(): void {
    tf.dispose([...this.first, ...this.second]);
  }
}

interface StepResult {
  label: string;
  medianMs: number;
  sequencesPerSecond: number;
  detail: string;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variants: { type: 'string', default: 'engine' },
      items: { type: 'string', default: '3500' },
      sampled: { type: 'string', default: '0' },
      length: { type: 'string', default: '50' },
      batch: { type: 'string', default: '64' },
      steps: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '3' },
      backend: { type: 'string', default: 'wasm' },
      'skip-torch': { type: 'boolean', default: false },
      'torch-threads': { type: 'string', default: '2,1' },
      profile: { type: 'boolean', default: false },
      'batched-matmul': { type: 'boolean', default: false },
      'ingest-latency': { type: 'boolean', default: false },
      customers: { type: 'string', default: '2000' },
      'customer-model': { type: 'boolean', default: false },
      'mcm-vs-torch': { type: 'boolean', default: false },
      data: { type: 'string' },
      rounds: { type: 'string', default: '1' },
      'baseline-model': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      [
        'usage: npm run bench:train -- [options]',
        `  --variants LIST       comma-separated, from ${Object.keys(VARIANTS).join(', ')} (default engine)`,
        '  --items N             item vocabulary size, in items (default 3500)',
        '  --sampled N           score the label against N negatives shared by the batch (log-uniform, as the',
        '                        model samples them) instead of every item; 0 is the full softmax (default 0).',
        '                        The PyTorch reference has no sampled softmax, so it is skipped',
        '  --length N            sequence length, in events (default 50)',
        '  --batch N             sequences per step (default 64)',
        '  --steps N             timed steps per run (default 15)',
        '  --warmup N            untimed steps before them (default 3)',
        '  --backend NAME        tfjs backend: wasm, cpu, tensorflow or auto (default wasm)',
        '  --skip-torch          do not run the PyTorch reference',
        '  --torch-threads LIST  comma-separated torch thread counts to run; the ratio uses the fastest run',
        '                        (default 2,1)',
        '  --profile             print the slowest kernels of one step of the first variant',
        "  --batched-matmul      time the ways of running attention's batched products on wasm, then exit",
        '  --ingest-latency      time the ingest of a synthetic dataset plus the trainer up to its first',
        '                        optimizer step (the real commands, as separate processes), then exit',
        '  --customers N         customers of the synthetic dataset of --ingest-latency and --customer-model',
        '                        (default 2000)',
        "  --customer-model      time trainStep of the real CustomerModel (the trainer's step: default MCM model,",
        '                        random-prefix batches of --batch, AdamW) with the native module on and off,',
        '                        then exit. Uses --batch, --steps and --warmup',
        "  --mcm-vs-torch        time trainStep of the default CustomerModel (native module when built) and the",
        '                        same model and step in PyTorch (scripts/bench/torch_mcm.py, once per',
        '                        --torch-threads count) on the same random-prefix batches, then print',
        "                        'ratio (pytorch / mcm sequences per second, MCM model)' against the faster",
        '                        PyTorch run and exit. mcm runs before and after PyTorch and its rate is over',
        '                        both runs. Uses --batch, --steps, --warmup, --customers and --data',
        '  --data DIR            with --customer-model or --mcm-vs-torch, an ingest output to train on instead',
        '                        of a synthetic dataset of --customers customers',
        '  --rounds N            with --customer-model, runs per model and native setting (default 1)',
        "  --baseline-model DIR  with --customer-model, also time the CustomerModel of DIR, another checkout's",
        '                        packages/model/src inside this repository (e.g. out/before/packages/model/src),',
        '                        alternating with this one',
      ].join('\n'),
    );
    return;
  }

  if (values['ingest-latency']) {
    await measureIngestToFirstStep({ root: ROOT, customers: positiveInteger(values.customers, 'customers') });
    return;
  }

  const config: BenchConfig = {
    items: positiveInteger(values.items, 'items'),
    sampled: nonNegativeInteger(values.sampled, 'sampled'),
    length: positiveInteger(values.length, 'length'),
    batch: positiveInteger(values.batch, 'batch'),
    steps: positiveInteger(values.steps, 'steps'),
    warmup: positiveInteger(values.warmup, 'warmup'),
    hidden: 64,
    heads: 4,
    layers: 3,
    ffn: 256,
  };
  if (config.items < 2) throw new Error(`--items must be at least 2 (padding and one item), got ${config.items}`);
  const variantNames = values.variants.split(',').map((name) => name.trim());
  for (const name of variantNames) {
    if (!(name in VARIANTS)) throw new Error(`unknown variant '${name}'; expected one of ${Object.keys(VARIANTS).join(', ')}`);
  }

  const backend = await initBackend(values.backend as 'wasm');
  if (values['mcm-vs-torch']) {
    await compareMcmWithTorch({
      root: ROOT,
      data: values.data,
      customers: positiveInteger(values.customers, 'customers'),
      batch: config.batch,
      steps: config.steps,
      warmup: config.warmup,
      torchThreads: values['torch-threads'].split(',').map((text) => positiveInteger(text.trim(), 'torch-threads')),
      python: findTorchPython(),
    });
    return;
  }
  if (values['customer-model']) {
    await benchCustomerModelStep({
      root: ROOT,
      data: values.data,
      customers: positiveInteger(values.customers, 'customers'),
      batch: config.batch,
      steps: config.steps,
      warmup: config.warmup,
      rounds: positiveInteger(values.rounds, 'rounds'),
      baselineModel: values['baseline-model'],
    });
    return;
  }
  if (values['batched-matmul']) {
    timeBatchedProducts(config);
    return;
  }
  const softmax = config.sampled > 0 ? `sampled softmax over ${config.sampled} shared negatives` : 'full softmax';
  console.log(
    `training step: ${config.items} items, batch ${config.batch} x length ${config.length}, hidden ${config.hidden}, ` +
      `${config.layers} post-LN blocks, ${config.heads} heads, FFN ${config.ffn}, ${softmax}, Adam`,
  );
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, tfjs ${tf.version_core}`);
  console.log(`native kernels: ${describeNativeKernels()}`);
  console.log(`load average before: ${formatLoad()}`);

  const results: StepResult[] = [];
  for (const [index, name] of variantNames.entries()) {
    const variant = VARIANTS[name]!;
    if (backend.name === 'wasm') {
      registerWasmTrainingKernels({
        zeroCopyIdentity: variant.zeroCopyIdentity,
        slicedBatchMatMul: variant.slicedBatchMatMul,
        sliceGather: variant.sliceGather,
        fusedAdam: variant.optimizer === 'fused',
        nativeKernels: variant.nativeKernels,
      });
    }
    const result = await timeVariant(config, variant, values.profile && index === 0);
    results.push({ ...result, label: `mcm ${backend.name} ${name}` });
    printResult(results[results.length - 1]!);
  }

  const torchThreads = values['torch-threads'].split(',').map((text) => positiveInteger(text.trim(), 'torch-threads'));
  let torchRuns: ({ result: StepResult } | { skipped: string })[] = [];
  if (values['skip-torch']) console.log('pytorch: skipped (--skip-torch given)');
  else if (config.sampled > 0) console.log('pytorch: skipped (the reference has no sampled softmax)');
  else torchRuns = torchThreads.map((threads) => runTorch(config, threads));
  for (const run of torchRuns) {
    if ('result' in run) printResult(run.result);
    else console.log(`pytorch: skipped (${run.skipped})`);
  }
  console.log(`load average after: ${formatLoad()}`);

  // PyTorch at its fastest thread count: on shared cores its 2-thread step can be many
  // times slower than its 1-thread step, which would flatter mcm.
  const ours = results.find((result) => result.label.endsWith(' engine')) ?? results[0];
  const references = torchRuns.flatMap((run) => ('result' in run ? [run.result] : []));
  const fastest = references.sort((a, b) => b.sequencesPerSecond - a.sequencesPerSecond)[0];
  if (fastest !== undefined && ours !== undefined) {
    const ratio = fastest.sequencesPerSecond / ours.sequencesPerSecond;
    console.log(`ratio (pytorch / mcm sequences per second): ${ratio.toFixed(2)} (${fastest.label} against ${ours.label})`);
  } else {
    console.log('ratio (pytorch / mcm sequences per second): n/a, no PyTorch run');
  }
}

/** Says whether the native kernel module loaded, with its OpenBLAS settings, or why not. */
function describeNativeKernels(): string {
  const load = loadNativeKernels();
  if (load.kernels === undefined) return `not used (${load.reason})`;
  return `${load.kernels.blasInfo()}; ${load.threads} thread(s); core type ${load.coreType}`;
}

/** Runs warmup + steps Adam steps of `variant` and returns the median times of the timed ones. */
async function timeVariant(config: BenchConfig, variant: Variant, profile: boolean): Promise<Omit<StepResult, 'label'>> {
  const random = new Random(0);
  const model = createWeights(config, random);
  const batches = Array.from({ length: 4 }, () => createBatch(config, random));
  const optimizer = variant.optimizer === 'fused' ? new FusedAdam(Object.values(model), 1e-3) : tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
  const variables = Object.values(model);

  const step = (index: number): tf.Scalar => {
    const batch = batches[index % batches.length]!;
    return tf.tidy(() => optimizer.minimize(() => loss(config, variant, model, batch), true, variables)!);
  };

  const times: number[] = [];
  const cpuTimes: number[] = [];
  let tensorsAfterWarmup = 0;
  let lastLoss = Number.NaN;
  for (let i = 0; i < config.warmup + config.steps; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    const value = step(i);
    lastLoss = (await value.data())[0]!;
    value.dispose();
    if (i >= config.warmup) {
      times.push(performance.now() - start);
      const cpu = process.cpuUsage(cpuStart);
      cpuTimes.push((cpu.user + cpu.system) / 1000);
    }
    if (i === config.warmup - 1) tensorsAfterWarmup = tf.memory().numTensors;
  }
  const tensorsFlat = tf.memory().numTensors === tensorsAfterWarmup;

  if (profile) await printProfile(() => step(0));

  optimizer.dispose();
  tf.dispose(variables);
  for (const batch of batches) tf.dispose([batch.ids, batch.mask, batch.labels, batch.flatLabels, ...(batch.negatives ? [batch.negatives.ids, batch.negatives.adjustment] : [])]);

  const medianMs = median(times);
  // CPU time counts only this process's work, so it moves less than wall time when other
  // processes share the cores.
  const cpuMs = median(cpuTimes);
  return {
    medianMs,
    sequencesPerSecond: (config.batch / medianMs) * 1000,
    detail:
      `${variant.description}; CPU ${cpuMs.toFixed(1)} ms / step; loss ${lastLoss.toFixed(3)}; ` +
      `tensor count ${tensorsFlat ? 'flat' : 'GROWING'}`,
  };
}

type Weights = Record<string, tf.Variable>;

/** Weights initialised like the PyTorch reference (nn.Linear's uniform, 0.02 normal embeddings). */
function createWeights(config: BenchConfig, random: Random): Weights {
  const seed = () => random.int(2 ** 31);
  const { items, length, hidden, ffn } = config;
  const weights: Weights = {};
  const add = (name: string, value: tf.Tensor) => {
    weights[name] = tf.variable(value, true, `bench/${name}/${seed()}`);
    value.dispose();
  };
  const uniform = (shape: number[], fanIn: number) => tf.randomUniform(shape, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn), 'float32', seed());

  add('items', tf.truncatedNormal([items, hidden], 0, 0.02, 'float32', seed()));
  add('positions', tf.randomNormal([length, hidden], 0, 0.02, 'float32', seed()));
  add('ln.gamma', tf.ones([hidden]));
  add('ln.beta', tf.zeros([hidden]));
  for (let layer = 0; layer < config.layers; layer++) {
    for (const projection of ['q', 'k', 'v', 'o']) {
      add(`${layer}.${projection}.kernel`, uniform([hidden, hidden], hidden));
      add(`${layer}.${projection}.bias`, uniform([hidden], hidden));
    }
    add(`${layer}.f1.kernel`, uniform([hidden, ffn], hidden));
    add(`${layer}.f1.bias`, uniform([ffn], hidden));
    add(`${layer}.f2.kernel`, uniform([ffn, hidden], ffn));
    add(`${layer}.f2.bias`, uniform([hidden], ffn));
    for (const norm of ['ln1', 'ln2']) {
      add(`${layer}.${norm}.gamma`, tf.ones([hidden]));
      add(`${layer}.${norm}.beta`, tf.zeros([hidden]));
    }
  }
  add('outputBias', tf.zeros([items]));
  return weights;
}

interface Batch {
  ids: tf.Tensor1D;
  mask: tf.Tensor4D;
  labels: tf.Tensor1D;
  /** [B] b * items + labels[b], the labels' positions in the flattened [B, items] logits. */
  flatLabels: tf.Tensor1D;
  /** [N] sampled negatives and [B, N] their logit corrections, when config.sampled > 0. */
  negatives?: { ids: tf.Tensor1D; adjustment: tf.Tensor2D };
}

/** Creates a batch like the reference's: random items, left padding of up to length / 2 positions. */
function createBatch(config: BenchConfig, random: Random): Batch {
  const { batch, length, items } = config;
  const ids = new Int32Array(batch * length);
  const mask = new Float32Array(batch * length);
  const labels = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    const padding = random.int(Math.floor(length / 2));
    for (let t = 0; t < length; t++) {
      const isPadding = t < padding;
      ids[b * length + t] = isPadding ? 0 : 1 + random.int(items - 1);
      mask[b * length + t] = isPadding ? -1e9 : 0;
    }
    labels[b] = 1 + random.int(items - 1);
  }
  return {
    ids: tf.tensor1d(ids, 'int32'),
    mask: tf.tensor4d(mask, [batch, 1, 1, length]),
    labels: tf.tensor1d(labels, 'int32'),
    flatLabels: tf.tensor1d(labels.map((label, b) => b * items + label), 'int32'),
    negatives: config.sampled > 0 ? sampleNegatives(config, labels, random) : undefined,
  };
}

/**
 * Draws the batch's shared negatives as the model's sampled softmax does: log-uniform ids,
 * each logit lowered by log(N q(id)), and a negative equal to a row's label masked out.
 */
function sampleNegatives(config: BenchConfig, labels: Int32Array, random: Random): { ids: tf.Tensor1D; adjustment: tf.Tensor2D } {
  const count = config.sampled;
  const drawn = new LogUniformSampler(config.items).sample(random, count);
  const adjustment = new Float32Array(labels.length * count);
  for (let b = 0; b < labels.length; b++) {
    for (let j = 0; j < count; j++) {
      adjustment[b * count + j] = drawn.ids[j] === labels[b] ? -1e9 : -drawn.logExpectedCounts[j]!;
    }
  }
  return { ids: tf.tensor1d(drawn.ids, 'int32'), adjustment: tf.tensor2d(adjustment, [labels.length, count]) };
}

/** Mean cross-entropy of the next item over the full item vocabulary, or over sampled negatives. */
function loss(config: BenchConfig, variant: Variant, w: Weights, batch: Batch): tf.Scalar {
  const { batch: size, length, hidden, items } = config;
  const embedded = tf.reshape(tf.gather(w.items!, batch.ids), [size, length, hidden]); // [B, T, H]
  let x = variant.layerNorm(tf.reshape(tf.add(embedded, w.positions!), [size * length, hidden]), ...norm(w, 'ln')); // [B*T, H]

  for (let layer = 0; layer < config.layers; layer++) {
    x = block(config, variant, w, layer, x, batch.mask);
  }

  const last = tf.reshape(tf.slice(tf.reshape(x, [size, length, hidden]), [0, length - 1, 0], [size, 1, hidden]), [size, hidden]); // [B, H]
  if (batch.negatives !== undefined) return sampledLoss(variant, w, last, batch.labels, batch.negatives);
  const logits = tf.add(variant.matMul(last, w.items!, false, true), w.outputBias!); // [B, items]
  const logProbabilities = tf.reshape(tf.logSoftmax(logits), [size * items]); // [B * items]
  // Each row's label picked by a flat index (b * items + label), as the model's cross-entropy
  // does: a one-hot [B, items] matrix would add 2 GB of tensors at a million items.
  const picked = tf.gather(logProbabilities, batch.flatLabels); // [B]
  return tf.neg(tf.mean(picked)) as tf.Scalar;
}

/** Sampled softmax: the label's logit [B, 1] against the shared negatives' corrected logits [B, N]. */
function sampledLoss(variant: Variant, w: Weights, last: tf.Tensor, labels: tf.Tensor1D, negatives: { ids: tf.Tensor1D; adjustment: tf.Tensor2D }): tf.Scalar {
  const positive = tf.add(tf.sum(tf.mul(last, tf.gather(w.items!, labels)), 1, true), tf.reshape(tf.gather(w.outputBias!, labels), [-1, 1])); // [B, 1]
  const sampled = tf.add(variant.matMul(last, tf.gather(w.items!, negatives.ids), false, true), tf.gather(w.outputBias!, negatives.ids)); // [B, N]
  const logits = tf.concat([positive, tf.add(sampled, negatives.adjustment)], 1); // [B, 1 + N]
  const picked = tf.slice(tf.logSoftmax(logits), [0, 0], [-1, 1]); // [B, 1]
  return tf.neg(tf.mean(picked)) as tf.Scalar;
}

/** Attention written as tfjs ops around `variant.matMul`: head transposes, scale, mask, softmax. */
function composedAttention(variant: Variant, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, mask: tf.Tensor4D, heads: number): tf.Tensor3D {
  const [batch, length, hidden] = q.shape;
  const headSize = hidden / heads;
  const split = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [batch, length, heads, headSize]), [0, 2, 1, 3]); // [B, h, T, hs]
  const scores = tf.add(tf.mul(variant.matMul(split(q), split(k), false, true), 1 / Math.sqrt(headSize)), mask); // [B, h, T, T]
  const context = variant.matMul(tf.softmax(scores), split(v)); // [B, h, T, hs]
  return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, length, hidden]) as tf.Tensor3D; // [B, T, H]
}

/** Applies one post-LN transformer block to x [B*T, H]. */
function block(config: BenchConfig, variant: Variant, w: Weights, layer: number, x: tf.Tensor, mask: tf.Tensor4D): tf.Tensor {
  const { batch, length, hidden, heads } = config;
  const dense = (input: tf.Tensor, name: string) =>
    variant.dense(input, w[`${layer}.${name}.kernel`] as tf.Tensor2D, w[`${layer}.${name}.bias`] as tf.Tensor1D);
  const rows = (input: tf.Tensor) => tf.reshape(input, [batch, length, hidden]) as tf.Tensor3D; // [B, T, H]

  const q = rows(dense(x, 'q'));
  const k = rows(dense(x, 'k'));
  const v = rows(dense(x, 'v'));
  const merged = tf.reshape(variant.attention(variant, q, k, v, mask, heads), [batch * length, hidden]); // [B*T, H]
  const attended = variant.layerNorm(tf.add(x, dense(merged, 'o')), ...norm(w, `${layer}.ln1`));

  const expanded = dense(attended, 'f1'); // [B*T, FFN]
  return variant.layerNorm(tf.add(attended, dense(variant.gelu(expanded), 'f2')), ...norm(w, `${layer}.ln2`));
}

function norm(w: Weights, name: string): [tf.Tensor1D, tf.Tensor1D] {
  return [w[`${name}.gamma`] as tf.Tensor1D, w[`${name}.beta`] as tf.Tensor1D];
}

/** Prints the kernels that took the most time in one profiled step, and their share of it. */
async function printProfile(step: () => tf.Scalar): Promise<void> {
  const start = performance.now();
  const info = await tf.profile(() => {
    step().dispose();
  });
  const stepMs = performance.now() - start;

  // Custom-gradient ops show up under their scope name and include the kernels they call,
  // so only registered kernels are counted.
  const totals = new Map<string, { ms: number; calls: number }>();
  for (const kernel of info.kernels) {
    if (tf.getKernel(kernel.name, tf.getBackend()) === undefined) continue;
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    const total = totals.get(kernel.name) ?? { ms: 0, calls: 0 };
    total.ms += ms;
    total.calls += 1;
    totals.set(kernel.name, total);
  }
  const kernelMs = [...totals.values()].reduce((sum, total) => sum + total.ms, 0);
  const calls = [...totals.values()].reduce((sum, total) => sum + total.calls, 0);
  console.log(`  profiled step: ${stepMs.toFixed(1)} ms, ${calls} kernel calls taking ${kernelMs.toFixed(1)} ms; slowest kernels:`);
  for (const [name, total] of [...totals.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40)) {
    const share = ((100 * total.ms) / kernelMs).toFixed(1);
    console.log(`    ${name.padEnd(20)} ${total.ms.toFixed(1).padStart(8)} ms ${share.padStart(5)} %  ${String(total.calls).padStart(5)} calls`);
  }

  const byShape = new Map<string, { ms: number; calls: number }>();
  for (const kernel of info.kernels) {
    if (tf.getKernel(kernel.name, tf.getBackend()) === undefined) continue;
    const key = `${kernel.name} ${kernel.inputShapes.map((shape) => `[${shape}]`).join(' ')}`;
    const total = byShape.get(key) ?? { ms: 0, calls: 0 };
    total.ms += typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    total.calls += 1;
    byShape.set(key, total);
  }
  console.log('  slowest kernels by input shapes:');
  for (const [key, total] of [...byShape.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20)) {
    const share = ((100 * total.ms) / kernelMs).toFixed(1);
    console.log(`    ${total.ms.toFixed(1).padStart(8)} ms ${share.padStart(5)} %  ${String(total.calls).padStart(4)} calls  ${key}`);
  }
}

/**
 * Times attention's two batched products ([B*h, T, hs] x [B*h, hs, T] and [B*h, T, T] x
 * [B*h, T, hs]) each way they can run on wasm, forward only. The block-diagonal way gets its
 * block-diagonal operand for free here, which is its best case.
 */
function timeBatchedProducts(config: BenchConfig): void {
  const { batch, length, hidden, heads } = config;
  const headSize = hidden / heads;
  const slices = batch * heads;
  const shapes: [string, [number, number, number], [number, number, number]][] = [
    ['Q K^T', [slices, length, headSize], [slices, headSize, length]],
    ['A V', [slices, length, length], [slices, length, headSize]],
  ];
  console.log(`batched products, ${slices} slices (batch ${batch} x ${heads} heads), median of 20:`);

  for (const [name, aShape, bShape] of shapes) {
    const a = tf.randomNormal(aShape) as tf.Tensor3D;
    const b = tf.randomNormal(bShape) as tf.Tensor3D;
    // Per sequence, all heads at once: [T, h*k] x block-diagonal [h*k, h*n], h times the work.
    const [, m, k] = aShape;
    const n = bShape[2];
    const aBySequence = tf.randomNormal([batch, m, heads * k]) as tf.Tensor3D;
    const blockDiagonal = tf.randomNormal([batch, heads * k, heads * n]) as tf.Tensor3D;

    const ways: [string, () => tf.Tensor][] = [
      ['tf.matMul, stock BatchMatMul kernel', () => tf.matMul(a, b)],
      ['tf.unstack + rank-2 tf.matMul + tf.stack', () => {
        const bSlices = tf.unstack(b);
        return tf.stack(tf.unstack(a).map((slice, i) => tf.matMul(slice, bSlices[i]!)));
      }],
      [`block-diagonal heads (${heads}x the work)`, () => slicedBatchMatMul(aBySequence, blockDiagonal)],
      ['SlicedBatchMatMul (engine)', () => slicedBatchMatMul(a, b)],
    ];
    for (const [way, run] of ways) {
      const times: number[] = [];
      for (let i = 0; i < 23; i++) {
        const start = performance.now();
        tf.tidy(() => void run().dataSync());
        if (i >= 3) times.push(performance.now() - start);
      }
      times.sort((x, y) => x - y);
      console.log(`  ${name.padEnd(6)} ${way.padEnd(44)} ${times[10]!.toFixed(2).padStart(8)} ms`);
    }
    tf.dispose([a, b, aBySequence, blockDiagonal]);
  }
}

/** Runs the PyTorch reference with the first Python that imports torch. */
function runTorch(config: BenchConfig, threads: number): { result: StepResult } | { skipped: string } {
  if (!existsSync(TORCH_REFERENCE)) return { skipped: `${TORCH_REFERENCE} not found` };
  const python = findTorchPython();
  if (python === undefined) {
    return { skipped: 'no Python with torch found (tried $MCM_PYTHON, python3, /usr/bin/python3); see docs/benchmarks.md' };
  }

  const args = [
    TORCH_REFERENCE,
    ...['--threads', String(threads), '--batch', String(config.batch), '--length', String(config.length)],
    ...['--items', String(config.items), '--hidden', String(config.hidden), '--heads', String(config.heads)],
    ...['--layers', String(config.layers), '--ffn', String(config.ffn)],
    ...['--steps', String(config.steps), '--warmup', String(config.warmup)],
  ];
  // One BLAS thread per torch thread, as the reference script's usage line recommends. The
  // environment passes on OPENBLAS_CORETYPE, so both sides run the same OpenBLAS kernels.
  const run = spawnSync(python, args, { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
  if (run.status !== 0) return { skipped: `${python} ${TORCH_REFERENCE} failed: ${run.stderr.trim().split('\n').pop()}` };

  const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
    engine: string;
    threads: number;
    median_ms: number;
    sequences_per_s: number;
  };
  return {
    result: {
      label: `pytorch (${report.engine}, ${report.threads} threads)`,
      medianMs: report.median_ms,
      sequencesPerSecond: report.sequences_per_s,
      detail: `${python}, OPENBLAS_NUM_THREADS=1, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? 'unset'}`,
    },
  };
}

function findTorchPython(): string | undefined {
  const candidates = [process.env.MCM_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => c !== undefined && c !== '');
  return candidates.find((python) => spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

function printResult(result: StepResult): void {
  console.log(
    `${result.label.padEnd(36)} ${result.medianMs.toFixed(1).padStart(9)} ms / step ` +
      `${result.sequencesPerSecond.toFixed(1).padStart(8)} sequences / s  (${result.detail})`,
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function formatLoad(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
}

function nonNegativeInteger(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer, got '${text}'`);
  return value;
}

function positiveInteger(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got '${text}'`);
  return value;
}

await main();
