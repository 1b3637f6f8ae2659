/**
 * Serving benchmark: latency and throughput of batch-1 top-K requests on the onnx and
 * tfjs engines, measured in one run on one checkpoint.
 *
 *   npm run bench:serving
 *   npm run bench:serving -- --rounds 1 --seconds 5 --onnx-threads 1 --tasks category --no-write
 *   npm run bench:serving -- --run runs/synth --no-write
 *
 * Without --run it prepares the run of the serving benchmark in --work-dir (2,000
 * synthetic customers, seed 11, the default MCM model trained for 3 minutes) or reuses
 * the one there. Each round starts `serving:serve` once per engine, in a child process,
 * sends a few seconds of warm-up load, then measures each task and connection count with
 * autocannon from this process, and stops the server. Rounds alternate the engines, so
 * a change of machine load hits both. Writes its section of docs/benchmarks.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadTrainingData } from '@mcm/training';
import { runLoad, topKScenario, type LoadResult } from '../apps/serving/scripts/load-scenarios.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BENCHMARKS_PAGE = join(ROOT, 'docs/benchmarks.md');
const SECTION_START = '<!-- bench:serving:start -->';
const SECTION_END = '<!-- bench:serving:end -->';
/** Time a server may take to log its start, load its checkpoint and listen. */
const READY_TIMEOUT_MS = 120_000;

const { values: options } = parseArgs({
  options: {
    run: { type: 'string' },
    'work-dir': { type: 'string', default: 'out/bench-serving' },
    customers: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '11' },
    'train-minutes': { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '15' },
    'warmup-seconds': { type: 'string', default: '5' },
    connections: { type: 'string', default: '1,4' },
    tasks: { type: 'string', default: 'category,brand' },
    'onnx-threads': { type: 'string', default: '1,2' },
    backend: { type: 'string', default: 'auto' },
    port: { type: 'string', default: '18080' },
    'no-write': { type: 'boolean', default: false },
  },
});

/** One server configuration under test. */
interface Variant {
  label: string;
  args: string[];
}

/** The engine, backend and checkpoint load time a server logged at start. */
interface StartedServer {
  /** The engine of the loaded model. */
  engine: string;
  /** The tfjs backend, used by the tfjs engine. */
  backend: string;
  /** Time to load the checkpoint: read, export or build, warm-up. */
  loadMilliseconds: number;
}

/** The measurements of one variant, task and connection count, one per round. */
interface Series {
  variant: string;
  task: string;
  connections: number;
  results: LoadResult[];
}

async function main(): Promise<void> {
  const rounds = positiveInteger('rounds');
  const seconds = positiveInteger('seconds');
  const warmupSeconds = Number(options['warmup-seconds']);
  const connectionCounts = options.connections!.split(',').map(Number);
  const tasks = options.tasks!.split(',');
  const variants: Variant[] = [
    ...options['onnx-threads']!.split(',').map((threads) => ({ label: `onnx, ${threads} thread${threads === '1' ? '' : 's'}`, args: ['--engine', 'onnx', '--onnx-threads', threads] })),
    { label: 'tfjs', args: ['--engine', 'tfjs'] },
  ];

  const runDir = options.run === undefined ? await prepareRun() : resolve(options.run);
  const runConfig = JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8')) as { data: string; modelConfig: { hidden: number; layers: number; heads: number; maxLength: number; readout: string } };
  const customers = (await loadTrainingData(runConfig.data)).customers.map((customer) => customer.id);

  const loads: number[] = [loadavg()[0]!];
  const series = new Map<string, Series>();
  const started = new Map<string, StartedServer[]>();
  for (let round = 0; round < rounds; round++) {
    // Alternate the order, so neither engine always runs first in a round.
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const variant of order) {
      const server = await startServer(runDir, variant);
      started.set(variant.label, [...(started.get(variant.label) ?? []), server.started]);
      try {
        if (warmupSeconds > 0) await runLoad(server.url, topKScenario(customers, tasks[0]!), Math.max(...connectionCounts), warmupSeconds);
        for (const task of tasks) {
          for (const connections of connectionCounts) {
            loads.push(loadavg()[0]!);
            const result = await runLoad(server.url, topKScenario(customers, task), connections, seconds);
            const key = `${variant.label}|${task}|${connections}`;
            const entry = series.get(key) ?? { variant: variant.label, task, connections, results: [] };
            entry.results.push(result);
            series.set(key, entry);
            process.stderr.write(`round ${round + 1}, ${variant.label}, top-10 ${task}, ${connections} connection(s): p50 ${result.p50} ms, ${result.requestsPerSecond.toFixed(0)} requests/s\n`);
          }
        }
      } finally {
        await server.stop();
      }
    }
  }
  loads.push(loadavg()[0]!);

  const step = (JSON.parse(await readFile(join(runDir, 'checkpoints', 'best.json'), 'utf8')) as { step: number }).step;
  const report = formatReport({ runDir, runConfig, customers: customers.length, rounds, seconds, warmupSeconds, variants, tasks, connectionCounts, series, started, loads, step });
  process.stdout.write(`${report}\n`);
  if (!options['no-write']) await writeSection(report);
}

/** Returns the benchmark run in --work-dir, generating, ingesting and training it when it is not there yet. */
async function prepareRun(): Promise<string> {
  const work = resolve(options['work-dir']!);
  const runDir = join(work, 'run');
  if (existsSync(join(runDir, 'checkpoints', 'best.json'))) {
    process.stderr.write(`reusing the trained run in ${runDir}\n`);
    return runDir;
  }
  await runChild(['apps/pipeline/src/cli.ts', 'synth', '--out', join(work, 'raw'), '--customers', options.customers!, '--seed', options.seed!]);
  await runChild(['apps/pipeline/src/cli.ts', 'ingest', '--config', 'datasets/synth.json', '--data-root', join(work, 'raw'), '--out', join(work, 'data')]);
  await runChild(['apps/trainer/src/cli.ts', 'train', '--data', join(work, 'data'), '--out', runDir, '--budget-minutes', options['train-minutes']!, '--eval-every', '50']);
  return runDir;
}

/** Runs `node --import tsx <args>` from the repository root, its output passed through, and waits for it to succeed. */
function runChild(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, MCM_LOG_LEVEL: 'warn' } });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`"${args.slice(0, 2).join(' ')}" failed with exit code ${code}`))));
  });
}

/**
 * Starts `serve` in a child process and waits until it has loaded the checkpoint. Reads
 * the engine and backend the server chose from its JSON log, so that a silent fallback
 * to tfjs cannot pass for an onnx measurement, and the checkpoint's load time.
 */
async function startServer(runDir: string, variant: Variant): Promise<{ url: string; started: StartedServer; stop(): Promise<void> }> {
  const port = options.port!;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'apps/serving/src/cli.ts', 'serve', '--run', runDir, '--port', port, '--backend', options.backend!, ...variant.args],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MCM_LOG_FORMAT: 'json', MCM_LOG_LEVEL: 'info' } },
  );
  const log = new LogLines(child);
  const exited = new Promise<number | null>((resolveExit) => child.on('close', resolveExit));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };

  try {
    const serving = await log.waitFor('serving started', READY_TIMEOUT_MS);
    const loaded = await log.waitFor('model loaded', READY_TIMEOUT_MS);
    // The server loads the checkpoint before it listens.
    await log.waitFor('listening', READY_TIMEOUT_MS);
    const url = `http://127.0.0.1:${port}`;
    if ((await readyStatus(url)) !== 200) throw new Error(`the ${variant.label} server logged "model loaded" but /ready is not 200`);
    return {
      url,
      started: { engine: String(loaded.engine), backend: String(serving.backend), loadMilliseconds: Number(loaded.milliseconds) },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Collects the JSON log lines a child process writes to stderr. */
class LogLines {
  private readonly entries: Array<Record<string, unknown>> = [];
  private tail = '';
  private exitCode: number | null | undefined = undefined;

  constructor(child: ChildProcess) {
    let buffered = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      this.tail = (this.tail + text).slice(-2000);
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) this.entries.push(JSON.parse(line) as Record<string, unknown>);
    });
    child.on('close', (code) => (this.exitCode = code));
  }

  /** Returns the first entry whose msg is `message`, waiting up to `timeoutMs`; throws if the process exits first. */
  async waitFor(message: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const entry = this.entries.find((candidate) => candidate.msg === message);
      if (entry !== undefined) return entry;
      if (this.exitCode !== undefined) throw new Error(`the server exited with code ${this.exitCode} before logging "${message}":\n${this.tail}`);
      if (Date.now() > deadline) throw new Error(`the server did not log "${message}" within ${timeoutMs / 1000} s:\n${this.tail}`);
      await new Promise((resolveWait) => setTimeout(resolveWait, 100));
    }
  }
}

async function readyStatus(url: string): Promise<number | null> {
  try {
    return (await fetch(`${url}/ready`)).status;
  } catch {
    return null;
  }
}

interface ReportInput {
  runDir: string;
  runConfig: { modelConfig: { hidden: number; layers: number; heads: number; maxLength: number; readout: string } };
  customers: number;
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  variants: Variant[];
  tasks: string[];
  connectionCounts: number[];
  series: Map<string, Series>;
  started: Map<string, StartedServer[]>;
  step: number;
  loads: number[];
}

function formatReport(input: ReportInput): string {
  const { modelConfig } = input.runConfig;
  const list = (values: readonly string[]) => values.join(' / ');
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
  const onnxVersion = packageVersion('onnxruntime-node');
  const command =
    `npm run bench:serving -- --rounds ${input.rounds} --seconds ${input.seconds} --warmup-seconds ${input.warmupSeconds} ` +
    `--connections ${input.connectionCounts.join(',')} --tasks ${input.tasks.join(',')} --onnx-threads ${options['onnx-threads']} --backend ${options.backend}` +
    (options.run === undefined ? '' : ` --run ${relative(ROOT, input.runDir) || '.'}`);

  const rows: string[] = [];
  for (const task of input.tasks) {
    for (const connections of input.connectionCounts) {
      for (const variant of input.variants) {
        const entry = input.series.get(`${variant.label}|${task}|${connections}`)!;
        const results = entry.results;
        rows.push(
          `| ${variant.label} | top-10 ${task} | ${connections} | ${list(results.map((r) => String(r.p50)))} | ${list(results.map((r) => String(r.p99)))} | ` +
            `${list(results.map((r) => r.requestsPerSecond.toFixed(0)))} | ${results.reduce((sum, r) => sum + r.failed, 0)} |`,
        );
      }
    }
  }

  const ratios: string[] = [];
  const tfjs = input.variants.find((variant) => variant.label === 'tfjs')!;
  for (const task of input.tasks) {
    for (const connections of input.connectionCounts) {
      const rate = (label: string) => median(input.series.get(`${label}|${task}|${connections}`)!.results.map((r) => r.requestsPerSecond));
      const cells = input.variants.filter((variant) => variant !== tfjs).map((variant) => `${(rate(variant.label) / rate(tfjs.label)).toFixed(1)}x`);
      ratios.push(`| top-10 ${task} | ${connections} | ${cells.join(' | ')} |`);
    }
  }
  const others = input.variants.filter((variant) => variant !== tfjs).map((variant) => variant.label);

  const engines = input.variants.map((variant) => {
    const first = input.started.get(variant.label)![0]!;
    return `${variant.label}: engine \`${first.engine}\`${first.engine === 'tfjs' ? ` on backend \`${first.backend}\`` : ''}`;
  });
  const loadTimes = input.variants.map((variant) => `${variant.label}: ${list(input.started.get(variant.label)!.map((start) => `${start.loadMilliseconds} ms`))}`);

  return [
    `Command: \`${command}\` (\`scripts/bench-serving.ts\`).`,
    '',
    `Run: the default MCM model (hidden ${modelConfig.hidden}, ${modelConfig.layers} blocks, ${modelConfig.heads} heads, maxLength ` +
      `${modelConfig.maxLength}, ${modelConfig.readout} readout), best checkpoint at step ${input.step}, on ${input.customers.toLocaleString('en-US')} customers.`,
    `Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 1024 ** 3)} GiB memory, Node ${process.versions.node}, ` +
      `onnxruntime-node ${onnxVersion}, tfjs ${packageVersion('@tensorflow/tfjs-core')}; autocannon ${packageVersion('autocannon')} in the benchmark process, ` +
      'each server in its own process on the same cores.',
    `Engines as the servers logged them: ${engines.join('; ')}.`,
    `Checkpoint load at each server start (read, sha256 check, export or build, warm-up pass): ${loadTimes.join('; ')}.`,
    `1-minute load average: ${input.loads[0]!.toFixed(1)} at the start, ${Math.min(...input.loads).toFixed(1)} to ${Math.max(...input.loads).toFixed(1)} ` +
      `during the run, ${input.loads.at(-1)!.toFixed(1)} at the end.`,
    '',
    `Each cell lists the rounds in order (${input.rounds} rounds, ${input.seconds} s each, after ${input.warmupSeconds} s of warm-up load per server start).`,
    '',
    '| engine | request | connections | p50 ms | p99 ms | requests/s | failed |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'Requests per second against tfjs, medians over the rounds:',
    '',
    `| request | connections | ${others.join(' | ')} |`,
    `|---|---|${others.map(() => '---|').join('')}`,
    ...ratios,
  ].join('\n');
}

function packageVersion(name: string): string {
  const path = join(ROOT, 'node_modules', name, 'package.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version : 'not installed';
}

/** Replaces this benchmark's part of docs/benchmarks.md, between its markers. */
async function writeSection(report: string): Promise<void> {
  const page = await readFile(BENCHMARKS_PAGE, 'utf8');
  const start = page.indexOf(SECTION_START);
  const end = page.indexOf(SECTION_END);
  if (start < 0 || end < start) throw new Error(`${BENCHMARKS_PAGE} has no ${SECTION_START} ... ${SECTION_END} markers; add them to the Serving section`);
  await writeFile(BENCHMARKS_PAGE, `${page.slice(0, start)}${SECTION_START}\n${report}\n${page.slice(end)}`);
}

function positiveInteger(name: 'rounds' | 'seconds'): number {
  const value = Number(options[name]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number of at least 1, got "${options[name]}"`);
  return value;
}

await main();
