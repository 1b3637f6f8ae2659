import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelConfig } from '@mcm/model';
import type { TrainerOptions } from '@mcm/training';

/** `<run>/config.json`: what a run was started with, so that evaluation can rebuild it. */
export interface RunConfig {
  /** The --model name. */
  model: string;
  /** Absolute path of the ingest output the run trained on. */
  data: string;
  dataset: string;
  manifestFingerprint: string;
  /** Null for baselines, which have no weights. */
  modelConfig: ModelConfig | null;
  /** Null for baselines. */
  training: Omit<TrainerOptions, 'runDir' | 'modelConfig' | 'resume'> | null;
  createdAt: string;
}

export function runConfigPath(runDir: string): string {
  return join(runDir, 'config.json');
}

export function metricsPath(runDir: string): string {
  return join(runDir, 'metrics.json');
}

/** Reads `<run>/config.json`, naming the fix when it is missing. */
export async function readRunConfig(runDir: string): Promise<RunConfig> {
  const path = runConfigPath(runDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new Error(`${path} not found: pass the --out directory of "nx run trainer:train"`);
  }
  return JSON.parse(text) as RunConfig;
}
