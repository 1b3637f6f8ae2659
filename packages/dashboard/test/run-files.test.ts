import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonLinesTail } from '../src/json-lines-tail.ts';
import { estimateProgress } from '../src/run-progress.ts';
import { toValidationPoint, type StepPoint } from '../src/run-records.ts';
import { downsampleSteps } from '../src/report/downsample.ts';

const directories: string[] = [];

async function temporaryFile(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mcm-dashboard-'));
  directories.push(dir);
  return join(dir, name);
}

function step(step: number, seconds = 0.5): StepPoint {
  return { step, loss: 3 - step / 100, taskLosses: { category: 2 - step / 100, brand: 1 }, sequencesPerSecond: 64 / seconds, seconds };
}

afterAll(async () => {
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
});

describe('JsonLinesTail', () => {
  it('returns only completed lines', async () => {
    const path = await temporaryFile('steps.jsonl');
    const tail = new JsonLinesTail<{ step: number }>(path);
    expect((await tail.read()).records).toEqual([]);

    await writeFile(path, '{"step":1}\n{"step":2}\n{"st');
    const first = await tail.read();
    expect(first.records).toEqual([{ step: 1 }, { step: 2 }]);
    expect(first.reset).toBe(false);

    await appendFile(path, 'ep":3}\n');
    expect((await tail.read()).records).toEqual([{ step: 3 }]);
    expect((await tail.read()).records).toEqual([]);
  });

  it('starts over when the file is replaced', async () => {
    const path = await temporaryFile('steps.jsonl');
    const tail = new JsonLinesTail<{ step: number }>(path);
    await writeFile(path, '{"step":1}\n{"step":2}\n{"step":3}\n');
    await tail.read();

    // A resumed run rewrites the log atomically, keeping the steps of its checkpoint.
    const replacement = `${path}.tmp`;
    await writeFile(replacement, '{"step":1}\n{"step":2}\n{"step":3}\n{"step":4}\n');
    await rename(replacement, path);
    const read = await tail.read();
    expect(read.reset).toBe(true);
    expect(read.records.map((record) => record.step)).toEqual([1, 2, 3, 4]);
  });

  it('counts lines that are not JSON', async () => {
    const path = await temporaryFile('steps.jsonl');
    await writeFile(path, '{"step":1}\nnot json\n{"step":2}\n');
    const read = await new JsonLinesTail<{ step: number }>(path).read();
    expect(read.records).toHaveLength(2);
    expect(read.invalidLines).toBe(1);
  });
});

describe('estimateProgress', () => {
  const steps = Array.from({ length: 40 }, (_, i) => step(i + 1));

  it('bounds the ETA by the step budget', () => {
    const progress = estimateProgress(steps, { maxSteps: 100, budgetMinutes: 60 }, 0, 20_000);
    expect(progress.step).toBe(40);
    expect(progress.secondsPerStep).toBeCloseTo(0.5, 10);
    expect(progress.sequencesPerSecond).toBeCloseTo(128, 10);
    expect(progress.etaSeconds).toBeCloseTo(30, 10);
    expect(progress.etaBound).toBe('max-steps');
  });

  it('bounds the ETA by the time budget', () => {
    const progress = estimateProgress(steps, { maxSteps: 100_000, budgetMinutes: 1 }, 0, 20_000);
    expect(progress.elapsedSeconds).toBe(20);
    expect(progress.etaSeconds).toBe(40);
    expect(progress.etaBound).toBe('budget');
  });

  it('has no ETA before the first step', () => {
    const progress = estimateProgress([], { maxSteps: 100, budgetMinutes: 1 }, null, 20_000);
    expect(progress.etaSeconds).toBeNull();
    expect(progress.sequencesPerSecond).toBeNull();
    expect(progress.etaBound).toBeNull();
  });
});

describe('toValidationPoint', () => {
  it('reads NDCG@10 per task and the mean', () => {
    const point = toValidationPoint({ step: 20, 'meanNdcg@10': 0.5, examples: 40, tasks: { category: { 'ndcg@10': 0.4, 'recall@10': 0.7 }, brand: { 'ndcg@10': 0.6 } } });
    expect(point).toEqual({ step: 20, meanNdcg: 0.5, ndcg: { category: 0.4, brand: 0.6 }, examples: 40 });
  });

  it('skips a record without the mean', () => {
    expect(toValidationPoint({ step: 20, tasks: {} })).toBeNull();
  });
});

describe('downsampleSteps', () => {
  it('keeps short curves as they are', () => {
    const steps = Array.from({ length: 10 }, (_, i) => step(i + 1));
    expect(downsampleSteps(steps, 10)).toEqual(steps);
  });

  it('averages long curves into buckets', () => {
    const steps = Array.from({ length: 10 }, (_, i) => step(i + 1));
    const points = downsampleSteps(steps, 5);
    expect(points.map((point) => point.step)).toEqual([2, 4, 6, 8, 10]);
    expect(points[0]!.taskLosses.category).toBeCloseTo(2 - 1.5 / 100, 10);
    expect(points[0]!.taskLosses.brand).toBe(1);
  });
});
