import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointDir, loadCheckpoint, loadTrainingData, saveCheckpoint, type Checkpoint, type CheckpointInput } from '@mcm/training';
import { startServer, type RunningServer } from '../src/server.ts';
import { buildTinyRun, silentLogger, type TinyRun } from './helpers/tiny-run.ts';

let run: TinyRun;
let best: Checkpoint;
let customers: string[];
const servers: RunningServer[] = [];
const directories: string[] = [];

beforeAll(async () => {
  run = await buildTinyRun();
  best = await loadCheckpoint(checkpointDir(run.runDir), 'best');
  customers = (await loadTrainingData(run.dataDir)).customers.map((customer) => customer.id);
});

afterAll(async () => {
  for (const server of servers) await server.close();
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
  if (run !== undefined) await rm(run.root, { recursive: true, force: true });
});

/** Copies the tiny run's directory, so each test can replace its checkpoints freely. */
async function copyRun(withCheckpoints: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mcm-serving-run-'));
  directories.push(dir);
  await cp(join(run.runDir, 'config.json'), join(dir, 'config.json'));
  if (withCheckpoints) await cp(checkpointDir(run.runDir), checkpointDir(dir), { recursive: true });
  return dir;
}

/** Writes `best` again as the best checkpoint of `runDir` at `step`, with its weights scaled so the file differs. */
async function promote(runDir: string, step: number, scale: number): Promise<void> {
  const { formatVersion: _f, kind: _k, createdAt: _c, tensorsFile: _t, tensorsSha256: _s, tensors: _e, optimizerStep: _o, ...rest } = best.meta;
  const input: CheckpointInput = { ...rest, step };
  const weights = Object.fromEntries(
    Object.entries(best.weights).map(([name, weight]) => [name, { shape: weight.shape, values: weight.values.map((value) => value * scale) }]),
  );
  await saveCheckpoint(checkpointDir(runDir), 'best', input, weights, null);
}

async function servedStep(server: RunningServer): Promise<number | null> {
  const response = await fetch(`${server.url}/ready`);
  const body = (await response.json()) as { checkpoint?: { step: number } };
  return body.checkpoint?.step ?? null;
}

async function waitForStep(server: RunningServer, step: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await servedStep(server)) === step) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`the server did not load step ${step} within ${timeoutMs} ms (serving ${await servedStep(server)})`);
}

async function topKScores(server: RunningServer, body: Record<string, unknown>): Promise<Array<{ id: number; score: number }>> {
  const response = await fetch(`${server.url}/v1/top-k`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  const answer = (await response.json()) as { candidates: Array<{ id: number; score: number }> };
  return answer.candidates.map(({ id, score }) => ({ id, score }));
}

describe('hot reload', () => {
  it('waits for the first checkpoint', async () => {
    const runDir = await copyRun(false);
    const server = await startServer({ runDir, port: 0, backend: 'wasm', pollMs: 100, logger: silentLogger() });
    servers.push(server);

    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(503);
    const topK = await fetch(`${server.url}/v1/top-k`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'brand', customerId: customers[0] }),
    });
    expect(topK.status).toBe(503);
    expect(((await topK.json()) as { message: string }).message).toMatch(/no model loaded yet: waiting for the run's best checkpoint/);

    await promote(runDir, 7, 1);
    await waitForStep(server, 7, 10_000);
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
  });

  it.each(['onnx', 'tfjs'] as const)('swaps checkpoints under load on %s without a failed request', async (engine) => {
    const runDir = await copyRun(true);
    const server = await startServer({ runDir, port: 0, backend: 'wasm', engine, pollMs: 200, logger: silentLogger() });
    servers.push(server);
    expect(server.slot.engine).toBe(engine);

    // A bounded loop of requests on loopback: at most 3,000 requests or 60 s, 4 at a time.
    const maxRequests = 3_000;
    const deadline = Date.now() + 60_000;
    let stop = false;
    let sent = 0;
    const failures: string[] = [];
    const stepsSeen = new Set<number>();
    const worker = async (id: number) => {
      while (!stop && sent < maxRequests && Date.now() < deadline) {
        sent++;
        const path = sent % 3 === 0 ? '/v1/embedding' : '/v1/top-k';
        const body = path === '/v1/embedding' ? { customerId: customers[sent % customers.length] } : { task: 'category', k: 5, customerId: customers[sent % customers.length] };
        try {
          const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
          const answer = (await response.json()) as { checkpoint?: { step: number } };
          if (response.status !== 200) failures.push(`worker ${id}: ${response.status} ${JSON.stringify(answer)}`);
          else stepsSeen.add(answer.checkpoint!.step);
        } catch (error) {
          failures.push(`worker ${id}: ${(error as Error).message}`);
        }
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(worker));

    const promoted = [101, 102, 103, 104, 105];
    for (const [i, step] of promoted.entries()) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await promote(runDir, step, 1 + 0.05 * (i + 1));
      await waitForStep(server, step, 10_000);
    }
    stop = true;
    await load;

    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(20);
    expect(await servedStep(server)).toBe(105);
    // The loop ran across the swaps: it saw more than one checkpoint.
    expect(stepsSeen.size).toBeGreaterThan(2);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/mcm_serving_checkpoint_loads_total\{result="loaded"\} 6/);
    expect(metrics).toMatch(/mcm_serving_checkpoint_step 105/);
    // Every reloaded checkpoint runs on the engine the server started with.
    expect(server.slot.engine).toBe(engine);
  });

  it('serves the reloaded weights on onnx', async () => {
    const runDir = await copyRun(true);
    const onnx = await startServer({ runDir, port: 0, backend: 'wasm', engine: 'onnx', pollMs: 100, logger: silentLogger() });
    servers.push(onnx);
    const request = { task: 'brand', k: 5, customerId: customers[1] };
    const before = await topKScores(onnx, request);

    await promote(runDir, 300, 1.5);
    await waitForStep(onnx, 300, 10_000);
    const after = await topKScores(onnx, request);
    expect(after).not.toEqual(before);

    // A tfjs server started on the promoted checkpoint gives the same ranking and scores.
    const tfjs = await startServer({ runDir, port: 0, backend: 'wasm', engine: 'tfjs', pollMs: 100, logger: silentLogger() });
    servers.push(tfjs);
    expect(await servedStep(tfjs)).toBe(300);
    const expected = await topKScores(tfjs, request);
    expect(after.map((candidate) => candidate.id)).toEqual(expected.map((candidate) => candidate.id));
    after.forEach((candidate, i) => expect(Math.abs(candidate.score - expected[i]!.score)).toBeLessThan(1e-4));
  });

  it('keeps the model when a checkpoint is for other data', async () => {
    const runDir = await copyRun(true);
    const server = await startServer({ runDir, port: 0, backend: 'wasm', pollMs: 100, logger: silentLogger() });
    servers.push(server);
    const before = await servedStep(server);

    const { formatVersion: _f, kind: _k, createdAt: _c, tensorsFile: _t, tensorsSha256: _s, tensors: _e, optimizerStep: _o, ...rest } = best.meta;
    await saveCheckpoint(checkpointDir(runDir), 'best', { ...rest, step: 500, manifestFingerprint: 'other-data' }, best.weights, null);
    const deadline = Date.now() + 10_000;
    let metrics = '';
    while (Date.now() < deadline && !/mcm_serving_checkpoint_loads_total\{result="failed"\} 1/.test(metrics)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      metrics = await (await fetch(`${server.url}/metrics`)).text();
    }
    expect(metrics).toMatch(/mcm_serving_checkpoint_loads_total\{result="failed"\} 1/);
    expect(await servedStep(server)).toBe(before);
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);

    // The next good checkpoint loads again.
    await promote(runDir, 501, 1.1);
    await waitForStep(server, 501, 10_000);
  });
});
