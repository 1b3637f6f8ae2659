import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PRIMARY_K } from '@mcm/training';
import { JsonLinesTail } from './json-lines-tail.ts';

/** The trainer's per-step log: one line per optimizer step (see packages/training/src/trainer.ts). */
export const STEPS_FILE = 'steps.jsonl';

/** The trainer's validation log: one line per periodic evaluation. */
export const VALIDATION_FILE = 'validation.jsonl';

/** The metric the trainer validates with and the charts show. */
export const NDCG_KEY = `ndcg@${PRIMARY_K}`;

/** The key of the mean over tasks in a validation.jsonl record. */
const MEAN_NDCG_KEY = `meanNdcg@${PRIMARY_K}`;

/** One optimizer step, reduced to what the charts and the progress figures need. */
export interface StepPoint {
  step: number;
  /** Weighted sum of the task losses. */
  loss: number;
  /** Task -> mean cross-entropy of the step's batch. */
  taskLosses: Record<string, number>;
  sequencesPerSecond: number;
  /** Seconds the step took, evaluations excluded. */
  seconds: number;
  /** Waiting gradient jobs after the step (distributed runs only). */
  queueDepth?: number;
  /** Workers that computed the step (distributed runs only). */
  workers?: number;
}

/** One periodic validation: NDCG@10 per task and their mean. */
export interface ValidationPoint {
  step: number;
  meanNdcg: number;
  /** Task -> NDCG@10. */
  ndcg: Record<string, number>;
  examples: number;
}

/** Returns the chart fields of a steps.jsonl record, or null when it lacks the step or the task losses. */
export function toStepPoint(record: Record<string, unknown>): StepPoint | null {
  if (typeof record.step !== 'number' || typeof record.taskLosses !== 'object' || record.taskLosses === null) return null;
  const point: StepPoint = {
    step: record.step,
    loss: numberOr(record.loss, Number.NaN),
    taskLosses: record.taskLosses as Record<string, number>,
    sequencesPerSecond: numberOr(record.sequencesPerSecond, Number.NaN),
    seconds: numberOr(record.seconds, Number.NaN),
  };
  if (typeof record.queueDepth === 'number') point.queueDepth = record.queueDepth;
  if (typeof record.workers === 'number') point.workers = record.workers;
  return point;
}

/** Returns the NDCG@10 fields of a validation.jsonl record, or null when it has none. */
export function toValidationPoint(record: Record<string, unknown>): ValidationPoint | null {
  const mean = record[MEAN_NDCG_KEY];
  if (typeof record.step !== 'number' || typeof mean !== 'number') return null;
  const tasks = (record.tasks ?? {}) as Record<string, Record<string, number>>;
  const ndcg: Record<string, number> = {};
  for (const [task, metrics] of Object.entries(tasks)) {
    const value = metrics[NDCG_KEY];
    if (typeof value === 'number') ndcg[task] = value;
  }
  return { step: record.step, meanNdcg: mean, ndcg, examples: numberOr(record.examples, 0) };
}

/** Reads the whole step and validation logs of a run; missing files read as empty. */
export async function readRunHistory(runDir: string): Promise<{ steps: StepPoint[]; validation: ValidationPoint[] }> {
  const steps = await new JsonLinesTail<Record<string, unknown>>(join(runDir, STEPS_FILE)).read();
  const validation = await new JsonLinesTail<Record<string, unknown>>(join(runDir, VALIDATION_FILE)).read();
  return {
    steps: steps.records.map(toStepPoint).filter((point) => point !== null),
    validation: validation.records.map(toValidationPoint).filter((point) => point !== null),
  };
}

/** Reads a JSON file, or returns null when it does not exist. */
export async function readJsonIfExists<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return JSON.parse(text) as T;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}
