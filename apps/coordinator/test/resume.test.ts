import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis, GradientWorker } from '@mcm/queue';
import { registerTrainCommand } from '@mcm/trainer/train-command';
import { useCpuBackend } from '../../../packages/training/test/helpers/backend.ts';
import { silentLogger } from '../../../packages/training/test/helpers/silent-logger.ts';
import { readStepLines, temporaryRunDir, testPolicy, uniquePrefix, writeFixtureDataset, type StepLine } from '../../../packages/queue/test/helpers/fixture.ts';
import { deletePrefix, REDIS_URL } from '../../../packages/queue/test/helpers/redis.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const MAX_STEPS = 8;
const policy = testPolicy();
const cleanups: Array<() => Promise<void>> = [];
let dataDir: string;

/** Options shared by the reference run and the distributed run: a tiny model without dropout. */
function runArguments(out: string): string[] {
  return [
    ...['--data', dataDir, '--out', out, '--max-steps', String(MAX_STEPS), '--eval-every', '3', '--customers-per-batch', '16', '--bucket-batches', '2'],
    ...['--hidden', '8', '--layers', '1', '--heads', '2', '--ffn', '16', '--dropout', '0', '--max-length', '10'],
    ...['--backend', 'cpu', '--seed', '5', '--lr', '0.01', '--warmup-steps', '2', '--eval-max-examples', '40', '--budget-minutes', '10'],
  ];
}

/** Starts the coordinator CLI in a child process and collects its JSON log records. */
function startCoordinator(args: string[]): { child: ChildProcess; records: Array<Record<string, unknown>>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', ...args], {
    env: { ...process.env, REDIS_URL, MCM_LOG_FORMAT: 'json', MCM_LOG_LEVEL: 'info', MCM_PROGRESS: 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const records: Array<Record<string, unknown>> = [];
  let pending = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.startsWith('{')) records.push(JSON.parse(line));
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  return { child, records, exit };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null> | T | null): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== null) return value;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function stepCount(runDir: string): Promise<number> {
  return existsSync(join(runDir, 'steps.jsonl')) ? (await readStepLines(runDir)).length : 0;
}

beforeAll(async () => {
  await useCpuBackend();
  const fixture = await writeFixtureDataset();
  cleanups.push(fixture.remove);
  dataDir = fixture.dir;
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('coordinator CLI', () => {
  it('resumes after SIGKILL on the same loss curve', async () => {
    const reference = await temporaryRunDir('reference');
    cleanups.push(reference.remove);
    const previousLevel = process.env.MCM_LOG_LEVEL;
    process.env.MCM_LOG_LEVEL = 'silent';
    const program = new Command().exitOverride();
    registerTrainCommand(program);
    // The train command prints its metrics table, which has no place in the test output.
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      await program.parseAsync(['node', 'trainer', 'train', ...runArguments(reference.dir)]);
    } finally {
      process.stdout.write = write;
      process.env.MCM_LOG_LEVEL = previousLevel;
    }
    const expected = await readStepLines(reference.dir);

    const prefix = uniquePrefix('resume');
    cleanups.push(() => deletePrefix(REDIS_URL, prefix));
    const redis: Redis = await connectRedis(REDIS_URL, { policy, logger: silentLogger(), role: 'worker' });
    cleanups.push(() => closeRedis(redis));
    const worker = await GradientWorker.start({ redis, prefix, policy, logger: silentLogger(), backend: 'cpu', id: 'resume-worker', microBatchDelayMs: 150 });
    cleanups.push(() => worker.close());

    const run = await temporaryRunDir('distributed');
    cleanups.push(run.remove);
    const args = [...runArguments(run.dir), '--queue-prefix', prefix];
    const first = startCoordinator([...args, '--status-port', '0']);
    const listening = await waitFor('the status endpoint', 60_000, () => first.records.find((record) => record.msg === 'status endpoint listening') ?? null);
    await waitFor('step 1', 60_000, async () => ((await stepCount(run.dir)) >= 1 ? true : null));
    const status = (await (await fetch(listening.url as string)).json()) as Record<string, unknown>;
    await waitFor('step 5', 60_000, async () => ((await stepCount(run.dir)) >= 5 ? true : null));
    first.child.kill('SIGKILL');
    await first.exit;
    const killedAfter = await stepCount(run.dir);

    const resumed = startCoordinator([...args, '--resume']);
    expect(await resumed.exit).toBe(0);

    expect(status.state).toBe('training');
    expect((status.workers as unknown[]).length).toBe(1);
    expect((status.lastStepRecord as StepLine).step).toBeGreaterThanOrEqual(1);
    expect(killedAfter).toBeGreaterThanOrEqual(5);
    expect(killedAfter).toBeLessThan(MAX_STEPS);
    expect(resumed.records.some((record) => record.msg === 'resuming training' && record.step === 3)).toBe(true);

    const actual = await readStepLines(run.dir);
    expect(actual.map((line) => line.step)).toEqual(expected.map((line) => line.step));
    actual.forEach((line, i) => {
      expect(line.loss).toBeCloseTo(expected[i]!.loss, 5);
      expect(line.gradientNorm).toBeCloseTo(expected[i]!.gradientNorm, 4);
    });

    const metrics = JSON.parse(await readFile(join(run.dir, 'metrics.json'), 'utf8')) as { tasks: Record<string, Record<string, number>>; checkpoint: unknown };
    const referenceMetrics = JSON.parse(await readFile(join(reference.dir, 'metrics.json'), 'utf8')) as typeof metrics;
    expect(metrics.checkpoint).toEqual(referenceMetrics.checkpoint);
    for (const task of Object.keys(referenceMetrics.tasks)) expect(metrics.tasks[task]!['ndcg@10']).toBeCloseTo(referenceMetrics.tasks[task]!['ndcg@10']!, 4);
    expect(existsSync(join(run.dir, 'config.json'))).toBe(true);
    expect(existsSync(join(run.dir, 'checkpoints', 'last.json'))).toBe(true);
  });
});
