import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

/** Settings of the ingest-to-first-step measurement. */
export interface IngestLatencyOptions {
  /** Repository root, where the CLIs and datasets/synth.json are. */
  root: string;
  /** Customers of the synthetic dataset. */
  customers: number;
}

/** How often the trainer's steps.jsonl is checked for its first line. */
const POLL_MS = 20;

/** Maximum wait for the first step before the measurement fails. */
const FIRST_STEP_TIMEOUT_MS = 10 * 60_000;

/**
 * Generates a synthetic dataset (untimed), then times the commands a user runs next: the
 * ingest, and the trainer from its start to its first optimizer step (the first line of
 * steps.jsonl). Each runs as its own process through tsx, as `npx nx run` runs them, so
 * the times include starting Node and loading the modules. The trainer is stopped after
 * its first step.
 */
export async function measureIngestToFirstStep(options: IngestLatencyOptions): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'mcm-ingest-latency-'));
  const tsx = join(options.root, 'node_modules/.bin/tsx');
  const raw = join(work, 'raw');
  const data = join(work, 'data');
  const run = join(work, 'run');
  try {
    console.log(`ingest to first step: ${options.customers} synthetic customers (seed 1), datasets/synth.json, default mcm model`);
    const synth = spawnSync(tsx, ['apps/pipeline/src/cli.ts', 'synth', '--customers', String(options.customers), '--seed', '1', '--out', raw], {
      cwd: options.root,
      encoding: 'utf8',
    });
    if (synth.status !== 0) throw new Error(`synth failed: ${synth.stderr.trim().split('\n').pop()}`);
    console.log(`load average before: ${formatLoad()}`);

    const start = performance.now();
    const ingest = spawnSync(tsx, ['apps/pipeline/src/cli.ts', 'ingest', '--config', 'datasets/synth.json', '--data-root', raw, '--out', data], {
      cwd: options.root,
      encoding: 'utf8',
    });
    if (ingest.status !== 0) throw new Error(`ingest failed: ${ingest.stderr.trim().split('\n').pop()}`);
    const ingested = performance.now();

    const trainer = await runTrainerToFirstStep(tsx, options.root, data, run);
    const firstStep = performance.now();
    console.log(`load average after: ${formatLoad()}`);

    console.log(`ingest (process start to exit)            ${seconds(ingested - start)}`);
    console.log(`trainer start to its first log line       ${seconds(trainer.firstOutputMs)}`);
    console.log(`trainer start to the first optimizer step ${seconds(firstStep - ingested)}`);
    console.log(`ingest start to the first optimizer step  ${seconds(firstStep - start)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Starts the trainer, waits for the first line of steps.jsonl, then stops the trainer. */
async function runTrainerToFirstStep(tsx: string, root: string, data: string, run: string): Promise<{ firstOutputMs: number }> {
  const started = performance.now();
  const args = ['apps/trainer/src/cli.ts', 'train', '--data', data, '--out', run, '--budget-minutes', '10', '--seed', '1', '--eval-every', '1000000'];
  const trainer = spawn(tsx, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let firstOutputMs = Number.NaN;
  let output = '';
  const onOutput = (chunk: Buffer) => {
    if (Number.isNaN(firstOutputMs)) firstOutputMs = performance.now() - started;
    output = (output + chunk.toString()).slice(-4000);
  };
  trainer.stdout.on('data', onOutput);
  trainer.stderr.on('data', onOutput);
  const exited = new Promise<number | null>((resolve) => trainer.on('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));

  const steps = join(run, 'steps.jsonl');
  try {
    while (!(existsSync(steps) && readFileSync(steps, 'utf8').includes('\n'))) {
      if (exitCode !== undefined) throw new Error(`the trainer exited with ${exitCode} before its first step: ${output.trim().split('\n').pop()}`);
      if (performance.now() - started > FIRST_STEP_TIMEOUT_MS) throw new Error(`no optimizer step within ${FIRST_STEP_TIMEOUT_MS / 60_000} minutes`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    if (exitCode === undefined) trainer.kill('SIGTERM');
    await exited;
  }
  return { firstOutputMs };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2).padStart(7)} s`;
}

function formatLoad(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
}
