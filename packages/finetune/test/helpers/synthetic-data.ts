import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger, type Logger } from '@mcm/common';
import { runIngest } from '@mcm/features';
import { loadDatasetConfig } from '@mcm/schema';
import { generate, resolveParameters } from '@mcm/synth';
import { loadTrainingData, type TrainingData } from '@mcm/training';

/** Creates a logger that writes nothing, so that test output shows only test results. */
export function silentLogger(): Logger {
  const previous = process.env.MCM_LOG_LEVEL;
  process.env.MCM_LOG_LEVEL = 'silent';
  try {
    return createLogger('test');
  } finally {
    if (previous === undefined) delete process.env.MCM_LOG_LEVEL;
    else process.env.MCM_LOG_LEVEL = previous;
  }
}

/** Generates `customers` synthetic customers, ingests them with datasets/synth.json and loads the shards. */
export async function syntheticData(customers: number, seed: number): Promise<{ root: string; data: TrainingData }> {
  const root = await mkdtemp(join(tmpdir(), 'mcm-finetune-test-'));
  const config = resolve(import.meta.dirname, '../../../../datasets/synth.json');
  await generate({ parameters: resolveParameters({ customers, items: 2000, seed }), outDir: join(root, 'raw') });
  await runIngest({
    config: await loadDatasetConfig(config),
    configSource: config,
    dataRoot: join(root, 'raw'),
    outDir: join(root, 'data'),
    threads: 1,
    logger: silentLogger(),
  });
  return { root, data: await loadTrainingData(join(root, 'data')) };
}
