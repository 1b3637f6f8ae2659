import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, resolveParameters, type GeneratorSummary } from '../src/index.ts';

/** A generator output in a fresh temporary directory; `remove` deletes it. */
export interface Sample {
  dir: string;
  summary: GeneratorSummary;
  remove(): Promise<void>;
}

/** Generates `customers` customers with the defaults, changed by `overrides`, into a temporary directory. */
export async function generateSample(customers: number, overrides: Record<string, unknown> = {}): Promise<Sample> {
  const dir = await mkdtemp(join(tmpdir(), 'mcm-synth-'));
  const summary = await generate({ parameters: resolveParameters({ customers, ...overrides }), outDir: dir });
  return { dir, summary, remove: () => rm(dir, { recursive: true, force: true }) };
}
