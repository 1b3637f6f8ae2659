import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** The nightly pre-training, as infra/schedule/nightly.json describes it. */
export interface NightlyConfig {
  /** Cron pattern of the schedule (minute hour day-of-month month day-of-week), e.g. "30 2 * * *". */
  cron: string;
  /** IANA time zone the cron pattern is read in, e.g. "Europe/Berlin". */
  timezone: string;
  /** Dataset config of the ingest (datasets/<name>.json); relative paths are relative to this file. */
  datasetConfig: string;
  /** Directory the ingest reads the config's source paths from; default MCM_DATA_ROOT. */
  dataRoot?: string;
  /** Directory of data/<night>, runs/<night>, current.json (the promoted run) and nightly.jsonl. */
  root: string;
  /**
   * Largest drop of validation mean NDCG@10 below the promoted model's, measured on the
   * new night's validation split, at which a new run is still promoted (e.g. 0.002).
   */
  tolerance: number;
  /** Options passed on to `coordinator start` after --data and --out, e.g. ["--budget-minutes", "120"]. */
  trainArguments: string[];
  /** Redis prefix of the coordinator and its workers; default mcm. */
  queuePrefix?: string;
}

/** Reads and validates a nightly config; relative paths in it become relative to the file's directory. */
export async function readNightlyConfig(path: string): Promise<NightlyConfig> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read the nightly config ${path}: ${(error as Error).message}`, { cause: error });
  }
  const config = validateNightlyConfig(parsed, path);
  const base = dirname(resolve(path));
  return {
    ...config,
    datasetConfig: resolve(base, config.datasetConfig),
    root: resolve(base, config.root),
    ...(config.dataRoot === undefined ? {} : { dataRoot: resolve(base, config.dataRoot) }),
  };
}

/** Checks every field of a parsed nightly config and names the first invalid one. */
export function validateNightlyConfig(value: unknown, source: string): NightlyConfig {
  if (typeof value !== 'object' || value === null) throw new Error(`${source}: a nightly config must be a JSON object`);
  const config = value as Record<string, unknown>;
  const text = (field: string, required = true) => {
    const entry = config[field];
    if (entry === undefined && !required) return undefined;
    if (typeof entry !== 'string' || entry.trim() === '') throw new Error(`${source}: "${field}" must be a non-empty string, got ${JSON.stringify(entry)}`);
    return entry;
  };

  const cron = text('cron')!;
  if (cron.trim().split(/\s+/).length < 5) throw new Error(`${source}: "cron" must have 5 or 6 fields, such as "30 2 * * *", got "${cron}"`);
  const timezone = text('timezone')!;
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw new Error(`${source}: "timezone" must be an IANA time zone such as "Europe/Berlin", got "${timezone}"`);
  }
  const tolerance = config.tolerance;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance)) throw new Error(`${source}: "tolerance" must be a number (an NDCG@10 difference), got ${JSON.stringify(tolerance)}`);
  const trainArguments = config.trainArguments ?? [];
  if (!Array.isArray(trainArguments) || trainArguments.some((entry) => typeof entry !== 'string')) {
    throw new Error(`${source}: "trainArguments" must be an array of strings, got ${JSON.stringify(trainArguments)}`);
  }
  for (const reserved of ['--data', '--out', '--resume']) {
    if (trainArguments.includes(reserved)) throw new Error(`${source}: "trainArguments" must not contain ${reserved}; the nightly run sets it`);
  }

  const dataRoot = text('dataRoot', false);
  const queuePrefix = text('queuePrefix', false);
  return {
    cron,
    timezone,
    datasetConfig: text('datasetConfig')!,
    root: text('root')!,
    tolerance,
    trainArguments: trainArguments as string[],
    ...(dataRoot === undefined ? {} : { dataRoot }),
    ...(queuePrefix === undefined ? {} : { queuePrefix }),
  };
}
