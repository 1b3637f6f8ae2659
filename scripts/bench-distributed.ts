/**
 * Distributed pre-training benchmark: throughput with 1 and 2 trainer workers, the
 * queue's per-step overhead, and the bytes a step sends with sparse and dense embedding
 * gradients.
 *
 *   nice npx tsx scripts/bench-distributed.ts
 *   nice npx tsx scripts/bench-distributed.ts --workers 1,2,4 --steps 32 --bytes-items 100000
 *
 * `--rounds N` repeats the single-process, 1-worker and 2-worker runs N times in turn and
 * pools the steps of all rounds, so that a load that changes during the benchmark (a
 * shared machine) weighs on every configuration alike.
 *
 * Throughput is the sequences of all timed steps over their total time, and the phases
 * are means per step. Medians would mislead: the sampler groups its batches by history
 * length, so one step costs up to ten times another, and the median step depends on which
 * batches happen to fall in the middle. `--warmup` and `--steps` must be multiples of the
 * sampler's bucket pool (BUCKET_BATCHES), so that every configuration trains on whole
 * pools and so on the same mix of lengths.
 *
 * `--scaling strong` (the default) trains the same global batch of `--batch` sequences in
 * every configuration, so more workers split the same work. `--scaling weak` gives each
 * worker `--batch` sequences, so a run with N workers trains a global batch of N x
 * `--batch`; the single process trains `--batch`. Throughput is compared in sequences per
 * second, because step times of different global batches are not comparable.
 *
 * Each round also runs, for every worker count N above 1, N single-process trainings at
 * once in separate processes that share nothing. Their summed throughput against one
 * process alone is what the machine allows N workers at most (cores that share a cache
 * and memory bus do not add up), so the workers' ratio can be read against it.
 *
 * `--heap-growth P` sets how far the JS heap may grow past its live size before a full
 * garbage collection, in percent. It applies to every process of the benchmark: the
 * workers, the coordinator and the single processes. The default is the workers' own,
 * and 0 leaves the choice to V8.
 *
 * `--prefetch-weights off` starts the workers with --no-prefetch-weights, so that they read
 * each step's weights only once its job has started. Compare it with `on` (the default) to
 * see what reading them while the jobs are dispatched saves.
 *
 * Needs a Redis with maxmemory-policy noeviction at REDIS_URL (default
 * redis://127.0.0.1:6379); every key goes under a fresh prefix that is deleted at the end.
 * Workers run as separate processes of `apps/trainer/src/cli.ts worker`, the coordinator
 * in this process. The dataset is synthetic, written to a temporary directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { createLogger, Random } from '@mcm/common';
import { CustomerModel, initBackend, modelConfigFromManifest, type ModelConfig } from '@mcm/model';
import {
  activeWorkers,
  closeRedis,
  connectRedis,
  DEFAULT_HEAP_GROWTH_PERCENT,
  encodeTensors,
  MAX_HEAP_GROWTH_PERCENT,
  GradientCoordinator,
  QueueKeys,
  redisUrlFromEnvironment,
  resolvePolicy,
  setHeapGrowth,
  type NamedArray,
} from '@mcm/queue';
import { encodeShard, MANIFEST_FORMAT_VERSION, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION, type Manifest, type ShardData } from '@mcm/schema';
import {
  AdamW,
  computeGradients,
  createSampler,
  disposeGradients,
  loadTrainingData,
  RANDOM_PREFIX_SAMPLER,
  trainStep,
  type StepOptions,
  type TrainingData,
} from '@mcm/training';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TRAINER_CLI = join(ROOT, 'apps/trainer/src/cli.ts');

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2' },
    rounds: { type: 'string', default: '1' },
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '4' },
    batch: { type: 'string', default: '64' },
    scaling: { type: 'string', default: 'strong' },
    'prefetch-weights': { type: 'string', default: 'on' },
    'heap-growth': { type: 'string', default: String(DEFAULT_HEAP_GROWTH_PERCENT) },
    items: { type: 'string', default: '5000' },
    customers: { type: 'string', default: '3000' },
    length: { type: 'string', default: '50' },
    hidden: { type: 'string', default: '64' },
    layers: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'wasm' },
    'bytes-items': { type: 'string', default: '100000' },
    // Internal: run only the single-process steps on this dataset and print their times as JSON.
    'local-only': { type: 'string' },
  },
});

/** Batches the sampler draws at once and sorts by history length (the trainer's default is 8). */
const BUCKET_BATCHES = 4;

/** Exits with `message` and no stack trace: these are mistakes in the command line. */
function usageError(message: string): never {
  process.stderr.write(`bench-distributed: ${message}\n`);
  process.exit(2);
}

/** Returns the integer of at least `minimum` that option `name` spells, or exits naming the option. */
function integerOption(name: keyof typeof args, value: string, minimum: number): number {
  if (!/^\d+$/.test(value) || Number(value) < minimum) usageError(`--${name} must be an integer >= ${minimum}, got "${value}"`);
  return Number(value);
}

if (args.scaling !== 'strong' && args.scaling !== 'weak') usageError(`--scaling must be "strong" or "weak", got "${args.scaling}"`);
if (args['prefetch-weights'] !== 'on' && args['prefetch-weights'] !== 'off') usageError(`--prefetch-weights must be "on" or "off", got "${args['prefetch-weights']}"`);
if (!['wasm', 'cpu', 'tensorflow'].includes(args.backend)) usageError(`--backend must be wasm, cpu or tensorflow, got "${args.backend}"`);

const settings = {
  workerCounts: args.workers.split(',').map((count) => integerOption('workers', count.trim(), 1)),
  rounds: integerOption('rounds', args.rounds, 1),
  steps: integerOption('steps', args.steps, BUCKET_BATCHES),
  warmup: integerOption('warmup', args.warmup, 0),
  batch: integerOption('batch', args.batch, 1),
  scaling: args.scaling as 'strong' | 'weak',
  prefetchWeights: args['prefetch-weights'] === 'on',
  heapGrowth: integerOption('heap-growth', args['heap-growth'], 0),
  items: integerOption('items', args.items, 2),
  customers: integerOption('customers', args.customers, 1),
  length: integerOption('length', args.length, 6),
  hidden: integerOption('hidden', args.hidden, 1),
  layers: integerOption('layers', args.layers, 1),
  backend: args.backend as 'wasm' | 'cpu' | 'tensorflow',
  bytesItems: integerOption('bytes-items', args['bytes-items'], 2),
};

for (const option of ['steps', 'warmup'] as const) {
  if (settings[option] % BUCKET_BATCHES !== 0) usageError(`--${option} must be a multiple of ${BUCKET_BATCHES} (the sampler's bucket pool), got ${settings[option]}`);
}
if (settings.heapGrowth > MAX_HEAP_GROWTH_PERCENT) usageError(`--heap-growth must be at most ${MAX_HEAP_GROWTH_PERCENT} (percent), got ${settings.heapGrowth}`);

const logger = createLogger('bench-distributed');
const redisUrl = redisUrlFromEnvironment();
const policy = resolvePolicy();

/** Writes a synthetic ingest output: item, category (items / 50) and brand (items / 100) per event. */
async function writeSyntheticDataset(dir: string, items: number, customers: number, maxEvents: number): Promise<void> {
  const random = new Random(11);
  const categories = Math.max(2, Math.floor(items / 50));
  const brands = Math.max(2, Math.floor(items / 100));
  const vocabularies = { item: items + 2, category: categories + 2, brand: brands + 2 };

  const offsets = [0];
  const itemIds: number[] = [];
  for (let c = 0; c < customers; c++) {
    const length = 6 + random.int(maxEvents - 5);
    // A Zipf-like draw: most events hit a small set of popular items, as in real logs.
    for (let e = 0; e < length; e++) itemIds.push(2 + Math.min(items - 1, Math.floor(items ** random.next()) - 1));
    offsets.push(itemIds.length);
  }

  const events = itemIds.length;
  const split = new Uint8Array(events);
  for (let c = 0; c < customers; c++) {
    const end = offsets[c + 1]!;
    split[end - 2] = SPLIT_VALIDATION;
    split[end - 1] = SPLIT_TEST;
  }

  const item = Int32Array.from(itemIds);
  const shard: ShardData = {
    customerIds: Array.from({ length: customers }, (_, c) => `customer-${c}`),
    customerOffsets: Int32Array.from(offsets),
    time: Float64Array.from({ length: events }, (_, e) => e * 1000),
    split,
    features: {
      item: { kind: 'single', values: item },
      category: { kind: 'single', values: item.map((id) => 2 + ((id - 2) % categories)) },
      brand: { kind: 'single', values: item.map((id) => 2 + ((id - 2) % brands)) },
    },
  };

  const splitCount = (code: number) => split.filter((value) => value === code).length;
  const manifest: Manifest = {
    formatVersion: MANIFEST_FORMAT_VERSION,
    dataset: 'bench-distributed',
    customers,
    events,
    rowsRead: events,
    rejectedRows: 0,
    rejectsByReason: {},
    duplicateRows: 0,
    truncatedEvents: 0,
    features: Object.entries(vocabularies).map(([name, vocabularySize]) => ({ name, kind: 'single' as const, vocabularySize, task: name !== 'item' })),
    vocabularies,
    tasks: ['category', 'brand'],
    itemFeature: 'item',
    split: { kind: 'leave-last-out', trainEnd: null, validationEnd: null, trainEndIso: null, validationEndIso: null },
    splitEvents: { train: splitCount(SPLIT_TRAIN), validation: splitCount(SPLIT_VALIDATION), test: splitCount(SPLIT_TEST) },
    maxLength: maxEvents,
    shards: [{ file: 'shards/shard-0.bin', customers, events }],
    fingerprint: `bench-${items}-${customers}-${maxEvents}`,
    rejectFile: null,
  };

  await mkdir(join(dir, 'shards'), { recursive: true });
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(join(dir, 'shards/shard-0.bin'), encodeShard(shard));
}

function benchModelConfig(data: TrainingData, tasks: string[]): ModelConfig {
  return modelConfigFromManifest(data.manifest, {
    hidden: settings.hidden,
    layers: settings.layers,
    heads: 4,
    dropout: 0,
    maxLength: settings.length,
    tasks,
  });
}

/** Returns the global batch of a run with `workers` workers (0: the single process) under the chosen scaling. */
function globalBatch(workers: number): number {
  return settings.scaling === 'weak' && workers > 0 ? workers * settings.batch : settings.batch;
}

function sampler(data: TrainingData, config: ModelConfig, batchSize = settings.batch) {
  return createSampler(RANDOM_PREFIX_SAMPLER, data, {
    batchSize,
    maxLength: config.maxLength,
    features: config.features.map((feature) => feature.name),
    tasks: config.tasks.map((task) => task.name),
    seed: 1,
    bucketBatches: BUCKET_BATCHES,
  });
}

function stepOptions(config: ModelConfig, step: number, random: Random): StepOptions {
  return {
    taskWeights: Object.fromEntries(config.tasks.map((task) => [task.name, 1])),
    learningRate: 1e-3,
    clipNorm: 1,
    random,
    step,
  };
}

const ADAMW = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };

/** Formats the mean of each phase in milliseconds. A phase missing from a record (a step that skipped it) counts as 0. */
function formatPhases(records: Array<Record<string, number>>): string {
  const names = [...new Set(records.flatMap((record) => Object.keys(record)))];
  return names.map((name) => `${name} ${(mean(records.map((record) => record[name] ?? 0)) * 1000).toFixed(1)}`).join(', ');
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Times `steps` single-process steps after `warmup` ones; returns seconds per step. */
function timeLocal(data: TrainingData, config: ModelConfig): number[] {
  const model = CustomerModel.create(config, 1);
  const optimizer = new AdamW(model.variables, ADAMW);
  const batches = sampler(data, config);
  const random = new Random(2);
  const seconds: number[] = [];
  for (let step = 1; step <= settings.warmup + settings.steps; step++) {
    const start = performance.now();
    trainStep(model, optimizer, batches.next(), stepOptions(config, step, random));
    if (step > settings.warmup) seconds.push((performance.now() - start) / 1000);
  }
  optimizer.dispose();
  model.dispose();
  return seconds;
}

/**
 * Runs `count` single-process trainings at once, each in a process of its own on the same
 * data, and returns each one's step times. Nothing is shared between them, so their summed
 * throughput against one process alone is what the machine itself allows `count` workers
 * at most: the ceiling of any speed-up from distributing.
 */
async function timeIndependent(count: number, dataDir: string): Promise<number[][]> {
  const script = fileURLToPath(import.meta.url);
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['--import', 'tsx', script, ...process.argv.slice(2), '--local-only', dataDir], {
      env: { ...process.env, MCM_LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const outputs = children.map(() => '');
  const ready = children.map(
    (child, i) =>
      new Promise<void>((resolveReady) => {
        child.stdout.on('data', (chunk: Buffer) => {
          outputs[i] += chunk.toString();
          if (outputs[i]!.includes('ready\n')) resolveReady();
        });
      }),
  );
  const finished = children.map(
    (child, i) =>
      new Promise<number[]>((resolveRun, rejectRun) => {
        child.once('error', rejectRun);
        child.once('exit', (code) => {
          if (code !== 0) return rejectRun(new Error(`independent training process exited with code ${code}`));
          resolveRun((JSON.parse(outputs[i]!.trim().split('\n').pop()!) as { seconds: number[] }).seconds);
        });
      }),
  );

  // Start-up takes seconds and varies, so every process waits, loaded, until all are: the timed steps then overlap.
  await Promise.race([Promise.all(ready), Promise.all(finished)]);
  for (const child of children) child.stdin.end('go\n');
  return Promise.all(finished);
}

/** Starts `count` worker processes under `prefix` and waits until all of them send heartbeats. */
async function startWorkers(count: number, prefix: string, dataDir: string, redis: Redis): Promise<ChildProcess[]> {
  const children = Array.from({ length: count }, (_, i) =>
    spawn(process.execPath, ['--import', 'tsx', TRAINER_CLI, 'worker', '--backend', settings.backend, '--queue-prefix', prefix, '--data', dataDir, '--id', `bench-${i}`, '--heap-growth', String(settings.heapGrowth), ...(settings.prefetchWeights ? [] : ['--no-prefetch-weights'])], {
      env: { ...process.env, REDIS_URL: redisUrl, MCM_LOG_LEVEL: 'warn', MCM_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  const keys = new QueueKeys(prefix);
  for (let attempt = 0; attempt < 600; attempt++) {
    if ((await activeWorkers(redis, keys)).length === count) return children;
    await sleep(100);
  }
  throw new Error(`${count} workers did not register within 60 s`);
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolveExit) => {
          if (child.exitCode !== null) return resolveExit();
          child.once('exit', () => resolveExit());
          child.kill('SIGTERM');
        }),
    ),
  );
}

interface DistributedTiming {
  workers: number;
  stepSeconds: number[];
  overheadSeconds: number[];
  workerSeconds: number[];
  gradientBytes: number[];
  weightsBytes: number;
  workerPhases: Array<Record<string, number>>;
  coordinatorPhases: Array<Record<string, number>>;
  /** Finer phases of the slowest worker and of the coordinator, and the queue's delays of the shard that finished last. */
  workerDetail: Array<Record<string, number>>;
  coordinatorDetail: Array<Record<string, number>>;
  queueLatencies: Array<Record<string, number>>;
}

/** Times `steps` distributed steps with `count` worker processes after `warmup` ones. */
async function timeDistributed(count: number, data: TrainingData, config: ModelConfig): Promise<DistributedTiming> {
  const prefix = `mcmbench-${randomBytes(3).toString('hex')}`;
  const redis = await connectRedis(redisUrl, { policy, logger, role: 'coordinator' });
  const children = await startWorkers(count, prefix, data.dir, redis);
  const coordinator = await GradientCoordinator.start({
    redis,
    prefix,
    policy,
    logger,
    run: `bench-${count}`,
    data,
    description: { modelName: 'mcm', modelConfig: config, features: config.features.map((f) => f.name), tasks: config.tasks.map((t) => t.name) },
    microBatches: 1,
    encoding: { sparseRows: true, denseFloat16: false },
  });
  const model = CustomerModel.create(config, 1);
  const optimizer = new AdamW(model.variables, ADAMW);
  const batches = sampler(data, config, globalBatch(count));
  const random = new Random(2);
  const timing: DistributedTiming = { workers: count, stepSeconds: [], overheadSeconds: [], workerSeconds: [], gradientBytes: [], weightsBytes: 0, workerPhases: [], coordinatorPhases: [], workerDetail: [], coordinatorDetail: [], queueLatencies: [] };
  try {
    for (let step = 1; step <= settings.warmup + settings.steps; step++) {
      const start = performance.now();
      const result = await coordinator.step(model, optimizer, batches.next(), stepOptions(config, step, random));
      if (step <= settings.warmup) continue;
      const record = result.record as {
        overheadSeconds: number;
        workerSeconds: number;
        gradientBytes: number;
        weightsBytes: number;
        shards: number;
        workerPhases: Record<string, number> & { detail?: Record<string, number> };
        coordinatorPhases: Record<string, number> & { detail?: Record<string, number> };
        queueLatencies: Record<string, number>;
      };
      if (record.shards !== count) throw new Error(`step ${step} ran on ${record.shards} shards, expected ${count}`);
      timing.stepSeconds.push((performance.now() - start) / 1000);
      timing.overheadSeconds.push(record.overheadSeconds);
      timing.workerSeconds.push(record.workerSeconds);
      timing.gradientBytes.push(record.gradientBytes);
      timing.weightsBytes = record.weightsBytes;
      const { detail: workerDetail, ...workerPhases } = record.workerPhases;
      const { detail: coordinatorDetail, ...coordinatorPhases } = record.coordinatorPhases;
      timing.workerPhases.push(workerPhases);
      timing.coordinatorPhases.push(coordinatorPhases);
      timing.workerDetail.push(workerDetail ?? {});
      timing.coordinatorDetail.push(coordinatorDetail ?? {});
      timing.queueLatencies.push(record.queueLatencies);
    }
  } finally {
    optimizer.dispose();
    model.dispose();
    await coordinator.close();
    await stopWorkers(children);
    await deletePrefix(redis, prefix);
    await closeRedis(redis);
  }
  return timing;
}

async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/**
 * Returns the payload bytes of one full batch's gradients at a vocabulary of `items`
 * items: the item table as touched rows, whole, and whole in float16.
 */
async function measureGradientBytes(items: number, dir: string): Promise<Record<string, number>> {
  await writeSyntheticDataset(dir, items, 2000, settings.length);
  const data = await loadTrainingData(dir);
  // The item is an input feature and a task, so its table gets gradients from the input
  // rows, the labels and the sampled negatives.
  const config = benchModelConfig(data, ['item', 'category', 'brand']);
  const model = CustomerModel.create(config, 1);
  const batch = sampler(data, config).next();
  const computed = computeGradients(model, batch, { taskWeights: { item: 1, category: 1, brand: 1 }, random: new Random(3) });
  const arrays = new Map<string, NamedArray>();
  for (const [name, gradient] of computed.gradients) arrays.set(name, { shape: gradient.shape.slice(), values: gradient.dataSync() as Float32Array });
  disposeGradients(computed.gradients);
  model.dispose();

  const sparse = encodeTensors(arrays, { sparseRows: true, denseFloat16: false });
  const dense = encodeTensors(arrays, { sparseRows: false, denseFloat16: false });
  const denseHalf = encodeTensors(arrays, { sparseRows: false, denseFloat16: true });
  const sparseHalf = encodeTensors(arrays, { sparseRows: true, denseFloat16: true });
  const itemTable = arrays.get('embedding/item')!;
  const touchedRows = itemTable.shape[0]! - countZeroRows(itemTable);
  return {
    parameters: [...arrays.values()].reduce((sum, array) => sum + array.values.length, 0),
    itemRows: itemTable.shape[0]!,
    touchedItemRows: touchedRows,
    sparseBytes: sparse.stats.bytes,
    sparseFloat16Bytes: sparseHalf.stats.bytes,
    denseBytes: dense.stats.bytes,
    denseFloat16Bytes: denseHalf.stats.bytes,
  };
}

function countZeroRows(array: NamedArray): number {
  const width = array.values.length / array.shape[0]!;
  let zero = 0;
  for (let row = 0; row < array.shape[0]!; row++) {
    let allZero = true;
    for (let j = 0; j < width && allZero; j++) if (array.values[row * width + j] !== 0) allZero = false;
    if (allZero) zero++;
  }
  return zero;
}

/** Times the single-process steps and prints them as JSON: the child side of timeIndependent. */
async function localOnly(dataDir: string): Promise<void> {
  await initBackend(settings.backend);
  const data = await loadTrainingData(dataDir);
  const config = benchModelConfig(data, ['category', 'brand']);
  process.stdout.write('ready\n');
  // The parent ends stdin once every process is ready.
  for await (const _ of process.stdin) void _;
  process.stdout.write(`${JSON.stringify({ seconds: timeLocal(data, config) })}\n`);
}

async function main(): Promise<void> {
  const backend = await initBackend(settings.backend);
  const dir = await mkdtemp(join(tmpdir(), 'mcm-bench-distributed-'));
  const machine = `${cpus().length} logical CPUs (${cpus()[0]?.model ?? 'unknown model'}), load average ${loadavg().map((value) => value.toFixed(2)).join(' ')} at start`;
  try {
    const dataDir = join(dir, 'throughput');
    await writeSyntheticDataset(dataDir, settings.items, settings.customers, settings.length);
    const data = await loadTrainingData(dataDir);
    const config = benchModelConfig(data, ['category', 'brand']);
    const parameters = CustomerModel.create(config, 1);
    const parameterCount = parameters.parameterCount;
    parameters.dispose();

    console.log(`machine: ${machine}`);
    console.log(
      `model: hidden ${settings.hidden}, ${settings.layers} blocks, max length ${settings.length}, ${parameterCount} parameters, ` +
        `batch ${settings.batch}, backend ${backend.name}; ${settings.steps} timed steps after ${settings.warmup} warm-up steps`,
    );
    console.log(`workers prefetch announced weights: ${settings.prefetchWeights ? 'on' : 'off'}; heap growth ${settings.heapGrowth}% in every process`);
    console.log(
      settings.scaling === 'weak'
        ? `scaling: weak, each worker computes ${settings.batch} sequences a step, so N workers train a global batch of N x ${settings.batch}; the single process trains ${settings.batch}`
        : `scaling: strong, every configuration trains a global batch of ${settings.batch} sequences a step`,
    );

    const local: number[] = [];
    const parallelCounts = settings.workerCounts.filter((count) => count > 1);
    const independent = new Map<number, number[][]>(parallelCounts.map((count) => [count, []]));
    const timings = new Map<number, DistributedTiming[]>(settings.workerCounts.map((count) => [count, []]));
    for (let round = 1; round <= settings.rounds; round++) {
      local.push(...timeLocal(data, config));
      for (const count of parallelCounts) independent.get(count)!.push(...(await timeIndependent(count, dataDir)));
      for (const count of settings.workerCounts) timings.get(count)!.push(await timeDistributed(count, data, config));
      console.log(`round ${round} of ${settings.rounds} done, load average ${loadavg().map((value) => value.toFixed(2)).join(' ')}`);
    }

    const alone = settings.batch / mean(local);
    console.log(`single process (no queue): ${(mean(local) * 1000).toFixed(1)} ms/step on average, ${alone.toFixed(1)} sequences/s`);
    for (const [count, runs] of independent) {
      // Each process's own throughput, summed over the processes of a round, then the median over rounds.
      const perRound: number[] = [];
      for (let from = 0; from < runs.length; from += count) {
        perRound.push(runs.slice(from, from + count).reduce((sum, seconds) => sum + settings.batch / mean(seconds), 0));
      }
      const together = median(perRound);
      console.log(
        `${count} independent single processes at once: ${together.toFixed(1)} sequences/s in all (median of ${perRound.length} round${perRound.length === 1 ? '' : 's'}), ` +
          `${(together / alone).toFixed(2)}x one process alone: the most ${count} workers can reach on this machine`,
      );
    }
    const throughputs = new Map<number, number>();
    for (const [count, rounds] of timings) {
      const stepSeconds = rounds.flatMap((timing) => timing.stepSeconds);
      const step = mean(stepSeconds);
      const sequencesPerSecond = globalBatch(count) / step;
      throughputs.set(count, sequencesPerSecond);
      const workerSeconds = mean(rounds.flatMap((timing) => timing.workerSeconds));
      const overheadSeconds = mean(rounds.flatMap((timing) => timing.overheadSeconds));
      const gradientBytes = mean(rounds.flatMap((timing) => timing.gradientBytes));
      // BullMQ's share: from the jobs' dispatch to the last result, minus the slowest worker's own time.
      const roundTrip = mean(rounds.flatMap((timing) => timing.coordinatorPhases.map((phases, i) => phases.wait! - timing.workerSeconds[i]!)));
      console.log(
        `${count} worker(s), global batch ${globalBatch(count)}: ${(step * 1000).toFixed(1)} ms/step on average, ${sequencesPerSecond.toFixed(1)} sequences/s, ` +
          `slowest worker ${(workerSeconds * 1000).toFixed(1)} ms/step, overhead ${(overheadSeconds * 1000).toFixed(1)} ms/step ` +
          `(of which queue round trip ${(roundTrip * 1000).toFixed(1)} ms), ` +
          `gradients ${(gradientBytes / 1e6).toFixed(2)} MB/step, weights ${(rounds[0]!.weightsBytes / 1e6).toFixed(2)} MB/step`,
      );
      const workerPhases = rounds.flatMap((timing) => timing.workerPhases);
      const coordinatorPhases = rounds.flatMap((timing) => timing.coordinatorPhases);
      console.log(`  slowest worker, mean ms: ${formatPhases(workerPhases)}; coordinator, mean ms: ${formatPhases(coordinatorPhases)}`);
      console.log(`  slowest worker in detail, mean ms: ${formatPhases(rounds.flatMap((timing) => timing.workerDetail))}`);
      console.log(`  coordinator in detail, mean ms: ${formatPhases(rounds.flatMap((timing) => timing.coordinatorDetail))}`);
      console.log(`  last shard's queue delays, mean ms: ${formatPhases(rounds.flatMap((timing) => timing.queueLatencies))}`);
    }
    const [first, ...others] = settings.workerCounts;
    for (const count of others) {
      const ratio = throughputs.get(count)! / throughputs.get(first!)!;
      console.log(`throughput (sequences/s, ${settings.scaling} scaling) ${count} vs ${first} worker(s): ${ratio.toFixed(2)}x`);
    }

    const bytes = await measureGradientBytes(settings.bytesItems, join(dir, 'bytes'));
    console.log(
      `gradient bytes of one batch of ${settings.batch} at ${settings.bytesItems} items (${bytes.parameters} parameters): ` +
        `${bytes.touchedItemRows} of ${bytes.itemRows} item rows touched; ` +
        `sparse ${(bytes.sparseBytes! / 1e6).toFixed(2)} MB, sparse + float16 dense ${(bytes.sparseFloat16Bytes! / 1e6).toFixed(2)} MB, ` +
        `dense ${(bytes.denseBytes! / 1e6).toFixed(2)} MB, dense float16 ${(bytes.denseFloat16Bytes! / 1e6).toFixed(2)} MB`,
    );
    console.log(`load average at end: ${loadavg().map((value) => value.toFixed(2)).join(' ')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

setHeapGrowth(settings.heapGrowth);
if (args['local-only'] !== undefined) await localOnly(args['local-only']);
else await main();
