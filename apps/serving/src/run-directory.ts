import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { ModelConfig } from '@mcm/model';
import { checkpointDir, type CheckpointKind } from '@mcm/training';

/** The fields of a run's `config.json` (written by `nx run trainer:train`) that serving reads. */
const runConfigSchema = z.object({
  /** The --model name. */
  model: z.string(),
  /** Absolute path of the ingest output the run trained on. */
  data: z.string().min(1),
  dataset: z.string(),
  manifestFingerprint: z.string(),
  /** Null for baseline runs, which have no weights to serve. */
  modelConfig: z.record(z.string(), z.unknown()).nullable(),
});

/** Where a run keeps what serving needs. */
export interface ServingRun {
  runDir: string;
  model: string;
  /** The ingest output the run trained on; the customer histories come from its shards. */
  dataDir: string;
  dataset: string;
  manifestFingerprint: string;
  modelConfig: ModelConfig;
  checkpointsDir: string;
  checkpointKind: CheckpointKind;
}

/** Reads `<run>/config.json` and rejects runs that have nothing to serve. */
export async function readServingRun(runDir: string, checkpointKind: CheckpointKind): Promise<ServingRun> {
  const absolute = resolve(runDir);
  const path = join(absolute, 'config.json');
  const isDirectory = await stat(absolute).then(
    (stats) => stats.isDirectory(),
    () => false,
  );
  if (!isDirectory) throw new Error(`run directory ${absolute} not found: pass the --out directory of "nx run trainer:train" as --run`);

  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'not found, so this is not a training run' : `could not be read (${code ?? String(error)})`;
    throw new Error(`${path} ${reason}: pass the --out directory of "nx run trainer:train" as --run`, { cause: error });
  }

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON (${(error as Error).message}); the run's config is damaged, so serve another run or train again`, {
      cause: error,
    });
  }
  const parsed = runConfigSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${path}: invalid run config at "${issue.path.join('.')}": ${issue.message}; was the run written by this version of mcm?`);
  }
  const config = parsed.data;
  if (config.modelConfig === null) {
    throw new Error(`${path} describes a "${config.model}" baseline run, which has no weights to serve; serve a run of a neural model such as mcm`);
  }

  return {
    runDir: absolute,
    model: config.model,
    dataDir: config.data,
    dataset: config.dataset,
    manifestFingerprint: config.manifestFingerprint,
    modelConfig: config.modelConfig as unknown as ModelConfig,
    checkpointsDir: checkpointDir(absolute),
    checkpointKind,
  };
}
