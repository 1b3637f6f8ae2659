import { join, resolve } from 'node:path';
import type { Manifest } from '@mcm/schema';
import { readJsonIfExists, readRunHistory, type StepPoint, type ValidationPoint } from '../run-records.ts';
import type { ReportMetrics } from './metrics-table.ts';

/** The parts of config.json the report shows. */
export interface ReportRunConfig {
  model: string;
  /** The ingest output the run trained on. */
  data: string;
  dataset: string;
  manifestFingerprint: string;
  modelConfig: unknown;
  training: Record<string, unknown> | null;
  createdAt: string;
}

/** Everything a report shows, read from a finished run directory. */
export interface RunReportInput {
  runDir: string;
  config: ReportRunConfig;
  metrics: ReportMetrics;
  /** The data manifest; null when `manifestPath` no longer exists. */
  manifest: Manifest | null;
  manifestPath: string;
  steps: StepPoint[];
  validation: ValidationPoint[];
}

/**
 * Reads config.json, metrics.json, steps.jsonl and validation.jsonl of a finished run,
 * and the manifest of its data (`dataDir`, default the directory the run trained on).
 */
export async function readRunReportInput(runDir: string, dataDir?: string): Promise<RunReportInput> {
  const configPath = join(runDir, 'config.json');
  const config = await readJsonIfExists<ReportRunConfig>(configPath);
  if (config === null) throw new Error(`${configPath} not found: pass the --out directory of "nx run trainer:train" or "nx run coordinator:start"`);

  const metricsPath = join(runDir, 'metrics.json');
  const metrics = await readJsonIfExists<ReportMetrics>(metricsPath);
  if (metrics === null) {
    throw new Error(`${metricsPath} not found: the run has not finished; wait for it, or write the metrics with "nx run trainer:evaluate --run ${runDir}"`);
  }

  const manifestPath = join(resolve(dataDir ?? config.data), 'manifest.json');
  const manifest = await readJsonIfExists<Manifest>(manifestPath);
  const history = await readRunHistory(runDir);
  return { runDir, config, metrics, manifest, manifestPath, ...history };
}
