/**
 * Ingest benchmark: throughput of `pipeline:ingest` on synthetic events, as a ratio to a
 * plain DuckDB scan of the same files in the same run, and the ingest's peak RSS.
 *
 *   npm run bench:ingest
 *   npm run bench:ingest -- --rounds 3
 *   npm run bench:ingest -- --customers 36000 --no-write
 *
 * Generates the events with `pipeline:synth` (about 28 events per customer with its
 * default parameters, so the default 360,000 customers give about 10M events), scans
 * them, ingests them with datasets/synth.json, scans them again, and writes its section
 * of docs/benchmarks.md. The scan runs before and after the ingest and the ratio uses
 * their mean, because the machine's load can change during the run; --rounds repeats
 * the whole sequence for the same reason. Every step runs in its own child process, so
 * each peak RSS is that step's alone.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import duckdb, { DuckDBInstance } from '@duckdb/node-api';
import { createLogger } from '@mcm/common';
import { INGEST_DEFAULTS, runIngest } from '@mcm/features';
import { loadDatasetConfig } from '@mcm/schema';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SCRIPT = fileURLToPath(import.meta.url);
const BENCHMARKS_PAGE = join(ROOT, 'docs/benchmarks.md');
const SECTION_START = '<!-- bench:ingest:start -->';
const SECTION_END = '<!-- bench:ingest:end -->';

/** The goals this benchmark checks: ingest within 3x of a plain scan, under 2 GiB of memory. */
const GOALS = { maxScanRatio: 3, maxPeakRssBytes: 2 * 1024 ** 3 };

/** The result line a child step prints on stdout. */
interface StepResult {
  seconds: number;
  peakRssBytes: number;
  rows?: number;
  events?: number;
  customers?: number;
}

const { values: options } = parseArgs({
  options: {
    customers: { type: 'string', default: '360000' },
    rounds: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    'memory-limit': { type: 'string', default: INGEST_DEFAULTS.memoryLimit },
    threads: { type: 'string', default: String(INGEST_DEFAULTS.threads) },
    'work-dir': { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    step: { type: 'string' },
    data: { type: 'string' },
    out: { type: 'string' },
  },
});

async function main(): Promise<void> {
  const workDir = options['work-dir'] ?? (await mkdtemp(join(tmpdir(), 'mcm-bench-ingest-')));
  const dataDir = join(workDir, 'data');
  const outDir = join(workDir, 'out');
  const loadAtStart = loadavg()[0]!;
  console.log(`work directory ${workDir}`);

  if (!existsSync(join(dataDir, 'generator.json'))) {
    console.log(`generating ${options.customers} customers with pipeline:synth ...`);
    await mkdir(workDir, { recursive: true });
    await runChild(['apps/pipeline/src/cli.ts', 'synth', '--out', dataDir, '--customers', options.customers!, '--seed', options.seed!]);
  }
  // A work directory from an earlier run keeps its data, so report the generator's own parameters.
  const generator = JSON.parse(await readFile(join(dataDir, 'generator.json'), 'utf8')) as { parameters: { customers: number; seed: number } };
  options.customers = String(generator.parameters.customers);
  options.seed = String(generator.parameters.seed);

  const childArgs = ['--memory-limit', options['memory-limit']!, '--threads', options.threads!, '--data', dataDir];
  const rounds: Round[] = [];
  for (let round = 1; round <= Number(options.rounds); round++) {
    const scanBefore = parseStep((await runChild([SCRIPT, '--step', 'scan', ...childArgs])).stdout);
    console.log(`round ${round} scan: ${scanBefore.rows} rows in ${scanBefore.seconds.toFixed(2)} s`);
    const ingestRun = await runChild([SCRIPT, '--step', 'ingest', ...childArgs, '--out', outDir], true);
    const ingest = parseStep(ingestRun.stdout);
    console.log(`round ${round} ingest: ${ingest.events} events in ${ingest.seconds.toFixed(2)} s, peak RSS ${mebibytes(ingest.peakRssBytes)} MiB`);
    const scanAfter = parseStep((await runChild([SCRIPT, '--step', 'scan', ...childArgs])).stdout);
    console.log(`round ${round} scan again: ${scanAfter.seconds.toFixed(2)} s`);

    const scanSeconds = (scanBefore.seconds + scanAfter.seconds) / 2;
    rounds.push({ scanBefore, scanAfter, ingest, ratio: ingest.seconds / scanSeconds, stages: stageDurations(ingestRun.stderr) });
  }

  const report = formatReport(rounds, loadAtStart, loadavg()[0]!);
  console.log(`\n${report}`);
  if (!options['no-write']) {
    await writeSection(report);
    console.log(`wrote the ingest section of ${BENCHMARKS_PAGE}`);
  }
  if (!options.keep && options['work-dir'] === undefined) await rm(workDir, { recursive: true, force: true });
}

/** Child step: reads every column of every synthetic file once with DuckDB and counts the values. */
async function scanStep(dataDir: string, memoryLimit: string, threads: number): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'mcm-bench-scan-'));
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: memoryLimit, threads: String(threads), temp_directory: scratch });
  const connection = await instance.connect();

  const start = performance.now();
  const events = await connection.runAndReadAll(
    `SELECT count(*) AS n, count(customer_id), count(timestamp), count(event_type), count(item_id) ` +
      `FROM read_csv('${join(dataDir, 'events-*.csv.gz')}', all_varchar = true)`,
  );
  const catalog = await connection.runAndReadAll(`SELECT count(*) AS n, count(COLUMNS(*)) FROM read_csv('${join(dataDir, 'catalog.csv.gz')}', all_varchar = true)`);
  const seconds = (performance.now() - start) / 1000;

  const rows = Number(events.getRowObjectsJS()[0]!.n) + Number(catalog.getRowObjectsJS()[0]!.n);
  connection.closeSync();
  instance.closeSync();
  await rm(scratch, { recursive: true, force: true });
  printStep({ seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, rows });
}

/** Child step: ingests the synthetic files with datasets/synth.json. */
async function ingestStep(dataDir: string, outDir: string, memoryLimit: string, threads: number): Promise<void> {
  const configPath = join(ROOT, 'datasets/synth.json');
  const config = await loadDatasetConfig(configPath);
  // Info lines on stderr carry the stage boundaries that the parent turns into durations.
  const logger = createLogger('bench-ingest');
  logger.level = 'info';

  const start = performance.now();
  const manifest = await runIngest({ config, configSource: configPath, dataRoot: dataDir, outDir, memoryLimit, threads, logger });
  const seconds = (performance.now() - start) / 1000;
  printStep({ seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, events: manifest.rowsRead, customers: manifest.customers });
}

function printStep(result: StepResult): void {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

function parseStep(stdout: string): StepResult {
  const line = stdout.split('\n').find((text) => text.startsWith('RESULT '));
  if (line === undefined) throw new Error(`the benchmark step printed no RESULT line; its output was:\n${stdout}`);
  return JSON.parse(line.slice('RESULT '.length)) as StepResult;
}

/**
 * Runs `node --import tsx <args>` from the repository root and returns its stdout, and
 * its stderr when `captureStderr` (otherwise stderr passes through).
 */
function runChild(args: string[], captureStderr = false): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', captureStderr ? 'pipe' : 'inherit'],
      env: { ...process.env, MCM_LOG_FORMAT: 'json' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise({ stdout, stderr });
      else reject(new Error(`benchmark step "${args.slice(0, 3).join(' ')}" failed with exit code ${code}:\n${stderr.slice(-2000)}`));
    });
  });
}

/** Log messages of runIngest that end a stage, and the stage each one ends. */
const STAGE_ENDS: Record<string, string> = {
  'read sources finished': 'read and validate the sources',
  'catalog loaded': 'load the catalog',
  'sequences built': 'count rejects, order, deduplicate, truncate, split',
  'vocabularies built': 'build the vocabularies',
  'write shards finished': 'map ids and write the shards',
  'ingest finished': 'write the manifest',
};

/** Turns the ingest's JSON log lines into seconds per stage, from the time of the previous stage's end. */
function stageDurations(stderr: string): Array<{ stage: string; seconds: number }> {
  const stages: Array<{ stage: string; seconds: number }> = [];
  let previous: number | null = null;
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { time: number; msg: string };
    if (entry.msg === 'ingest started') previous = entry.time;
    const stage = STAGE_ENDS[entry.msg];
    if (stage === undefined || previous === null) continue;
    stages.push({ stage, seconds: (entry.time - previous) / 1000 });
    previous = entry.time;
  }
  return stages;
}

/** One scan, ingest, scan sequence. */
interface Round {
  scanBefore: StepResult;
  scanAfter: StepResult;
  ingest: StepResult;
  /** Ingest time over the mean of the two scan times. */
  ratio: number;
  stages: Array<{ stage: string; seconds: number }>;
}

/** Formats the section; the goals are judged on the median round by ratio (the lower middle one for an even count). */
function formatReport(rounds: readonly Round[], loadAtStart: number, loadAtEnd: number): string {
  const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor((rounds.length - 1) / 2)]!;
  const events = median.ingest.events ?? 0;
  const peakRss = Math.max(...rounds.map((round) => round.ingest.peakRssBytes));
  const verdict = (passed: boolean) => (passed ? 'met' : 'missed');
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const command =
    `npm run bench:ingest -- --customers ${options.customers} --seed ${options.seed} --rounds ${rounds.length} ` +
    `--threads ${options.threads} --memory-limit ${options['memory-limit']}`;
  const list = (values: readonly string[]) => values.join(' / ');

  return [
    '## Ingest',
    '',
    `Command: \`${command}\` (\`scripts/bench-ingest.ts\`).`,
    `Machine: ${availableParallelism()} cores (${cpu}), ${mebibytes(totalmem())} MiB memory, Node ${process.versions.node}, DuckDB ${duckdb.version()}; ` +
      `1-minute load average ${loadAtStart.toFixed(1)} at the start and ${loadAtEnd.toFixed(1)} at the end.`,
    '',
    `Each round scans the files, ingests them and scans them again; ${rounds.length} round(s), values in round order.`,
    '',
    '| measure | value | goal |',
    '|---|---|---|',
    `| events read (synthetic, ${Number(options.customers).toLocaleString('en-US')} customers) | ${events.toLocaleString('en-US')} | |`,
    `| plain DuckDB scan of the same files, before / after each ingest | ${list(rounds.map((round) => `${round.scanBefore.seconds.toFixed(1)} s, ${round.scanAfter.seconds.toFixed(1)} s`))} | |`,
    `| ingest (read, validate, order, vocabularies, shards, manifest) | ${list(rounds.map((round) => `${round.ingest.seconds.toFixed(1)} s`))} | |`,
    `| ingest throughput | ${list(rounds.map((round) => `${Math.round(events / round.ingest.seconds).toLocaleString('en-US')} events/s`))} | |`,
    `| ingest time / mean scan time | ${list(rounds.map((round) => round.ratio.toFixed(1)))} | median at most ${GOALS.maxScanRatio}: ${verdict(median.ratio <= GOALS.maxScanRatio)} |`,
    `| ingest peak RSS (largest round) | ${mebibytes(peakRss)} MiB | under ${mebibytes(GOALS.maxPeakRssBytes)} MiB: ${verdict(peakRss < GOALS.maxPeakRssBytes)} |`,
    '',
    'The scan reads every column of every events file and the catalog with `read_csv(..., all_varchar = true)` and counts the values; ' +
      'it uses the same threads and memory limit as the ingest.',
    '',
    'Ingest time by stage in the median round:',
    '',
    '| stage | seconds | share |',
    '|---|---|---|',
    ...median.stages.map(({ stage, seconds }) => `| ${stage} | ${seconds.toFixed(1)} | ${((100 * seconds) / median.ingest.seconds).toFixed(0)}% |`),
    '',
    'Beyond the scan itself, the read stage hashes every row and stores it in a DuckDB table, the ordering stage sorts all ' +
      'events once by customer and time, and the last stage joins all events with the vocabularies before the shards are filled.',
  ].join('\n');
}

/** Replaces this benchmark's section of docs/benchmarks.md, creating the page or the section when missing. */
async function writeSection(report: string): Promise<void> {
  const section = `${SECTION_START}\n${report}\n${SECTION_END}`;
  const page = existsSync(BENCHMARKS_PAGE) ? await readFile(BENCHMARKS_PAGE, 'utf8') : '# Benchmarks\n';
  const start = page.indexOf(SECTION_START);
  const end = page.indexOf(SECTION_END);
  const updated =
    start >= 0 && end > start
      ? `${page.slice(0, start)}${section}${page.slice(end + SECTION_END.length)}`
      : `${page.trimEnd()}\n\n${section}\n`;
  await writeFile(BENCHMARKS_PAGE, updated);
}

function mebibytes(bytes: number): number {
  return Math.round(bytes / 1024 ** 2);
}

// Dispatch last, so that every constant above is initialised before a step runs.
if (options.step === 'scan') await scanStep(options.data!, options['memory-limit']!, Number(options.threads));
else if (options.step === 'ingest') await ingestStep(options.data!, options.out!, options['memory-limit']!, Number(options.threads));
else await main();
