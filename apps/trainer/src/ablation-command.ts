import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger, type Logger } from '@mcm/common';
import { INGEST_DEFAULTS, runIngest } from '@mcm/features';
import { loadDatasetConfig, readManifest } from '@mcm/schema';
import { generate, resolveParameters } from '@mcm/synth';
import { writeAblationResults, type AblationResults, type AblationRow } from './ablation-report.ts';
import type { MetricsReport } from './evaluation-report.ts';
import { findModelVariant } from './model-variants.ts';
import { integerAtLeast, nameList, oneOf, positiveNumber } from './option-parsers.ts';
import { addTrainOptions, runTrainCommand, type TrainCommandOptions } from './train-command.ts';

/** The ablation's models in table order: the floors, the published baselines, then MCM built up step by step. */
export const ABLATION_MODELS = ['popularity', 'last-value', 'bert4rec', 'sasrec', 'mcm-single', 'mcm-mtl', 'mcm'] as const;

/** Generated customers of the synthetic dataset when no --data-root gives one: about 4 minutes of ingest and evaluation at most. */
const SYNTH_CUSTOMERS = 5000;

interface AblationOptions {
  dataset: string;
  budget: number;
  models: string[];
  tasks?: string[];
  dataRoot?: string;
  data?: string;
  work?: string;
  results: string;
  seed: number;
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  maxLength?: number;
  customersPerBatch?: number;
  synthCustomers: number;
  budgetPerTask: boolean;
  filterSeen: boolean;
}

export function registerAblationCommand(program: Command): void {
  program
    .command('ablation')
    .description(
      'Train every model of the ablation on one dataset with the same time budget and seed, score them with the same evaluation, ' +
        'and write <results>/<dataset>.md and .json: one row per model, NDCG@10 and Recall@10 per task, wall time and backend.',
    )
    .requiredOption('--dataset <config>', 'dataset config: a name under datasets/ (e.g. ml-1m-5core) or a path to a .json file')
    .option('--budget <minutes>', 'training minutes per model; a per-task model (bert4rec, sasrec, mcm-single) splits them over its tasks unless --budget-per-task', positiveNumber, 5)
    .option('--budget-per-task', 'give each task of a per-task model the whole --budget, so its row trains tasks x budget minutes', false)
    .addOption(new Option('--models <list>', 'models to run, comma-separated, in table order').argParser(nameList).default([...ABLATION_MODELS], ABLATION_MODELS.join(',')))
    .option('--tasks <list>', "tasks to train and report, comma-separated (default: the manifest's tasks)", nameList)
    .option('--data-root <dir>', 'directory the config\'s source paths are relative to (default: MCM_DATA_ROOT; for "synth" without either, the generator writes a dataset)')
    .option('--data <dir>', 'an ingest output directory to use instead of ingesting the dataset again')
    .option('--work <dir>', 'directory of the ingest output and the runs (default: out/ablation/<dataset>)')
    .option('--results <dir>', 'directory of the result tables', 'docs/results')
    .option('--seed <seed>', 'seed of every model, as train --seed', integerAtLeast(0), 1)
    .option('--backend <backend>', 'tfjs backend: auto, tensorflow, wasm or cpu', oneOf(['auto', 'tensorflow', 'wasm', 'cpu'] as const), 'auto')
    .option('--max-length <events>', "longest history every model reads (default: the manifest's maxLength)", integerAtLeast(1))
    .option('--customers-per-batch <count>', 'batch size of every model, in customers (default: the train default)', integerAtLeast(1))
    .option('--filter-seen', "leave each customer's already-seen values out of the candidates, as the published MovieLens protocols do", false)
    .option('--synth-customers <customers>', 'customers the generator writes for "synth" when no data root is given', integerAtLeast(10), SYNTH_CUSTOMERS)
    .addHelpText('after', '\nEach model is an ordinary `trainer:train` run under <work>/runs/<model>[-<task>]; docs/results.md explains the models.')
    .action(async (options: AblationOptions) => {
      const results = await runAblation(options);
      process.stdout.write(`wrote ${results.markdownPath} and ${results.jsonPath}\n`);
    });
}

/** Ingests the dataset when needed, trains and evaluates every model, and writes the tables. */
export async function runAblation(options: AblationOptions): Promise<{ markdownPath: string; jsonPath: string; results: AblationResults }> {
  const repeated = options.models.filter((model, index) => options.models.indexOf(model) !== index);
  if (repeated.length > 0) throw new InvalidArgumentError(`--models names ${repeated.join(', ')} more than once; name each model once`);
  for (const model of options.models) {
    const variant = findModelVariant(model);
    if (!ABLATION_MODELS.includes(variant.name as (typeof ABLATION_MODELS)[number])) {
      throw new InvalidArgumentError(`model "${model}" is not part of the ablation; choose from ${ABLATION_MODELS.join(', ')}`);
    }
  }
  const configPath = datasetConfigPath(options.dataset);
  const datasetName = basename(configPath, '.json');
  const work = resolve(options.work ?? join('out', 'ablation', datasetName));
  const logger = createLogger('ablation', { dataset: datasetName });
  const started = performance.now();

  const dataDir = options.data === undefined ? await ingestDataset(configPath, datasetName, work, options, logger) : resolve(options.data);
  const manifest = await readManifest(dataDir);
  if (manifest.dataset !== datasetName) {
    throw new InvalidArgumentError(
      `${dataDir} contains dataset "${manifest.dataset}" (its manifest.json), not "${datasetName}"; pass --dataset ${manifest.dataset}, or the ingest output of ${datasetName} as --data`,
    );
  }
  const loadAtStart = loadavg()[0]!;
  const tasks = options.tasks ?? manifest.tasks;

  const rows: AblationRow[] = [];
  for (const model of options.models) {
    const variant = findModelVariant(model);
    const perTask = variant.kind === 'neural' && variant.perTask;
    const runs = perTask ? tasks.map((task) => ({ name: `${model}-${task}`, tasks: [task] })) : [{ name: model, tasks }];
    // Same training minutes per row by default: one MCM model serves every task in the time
    // that the per-task models share.
    const budget = options.budgetPerTask ? options.budget : options.budget / runs.length;

    const reports: MetricsReport[] = [];
    for (const run of runs) {
      logger.info({ model, tasks: run.tasks, budgetMinutes: budget }, 'ablation run started');
      // The runs directory belongs to the ablation, so a repeated ablation starts each run afresh.
      const runDir = join(work, 'runs', run.name);
      await rm(runDir, { recursive: true, force: true });
      const report = await runTrainCommand(trainOptions(options, dataDir, runDir, model, run.tasks, budget));
      logger.info({ model, tasks: run.tasks, ndcg10: Object.fromEntries(run.tasks.map((task) => [task, report.tasks[task]?.['ndcg@10']])) }, 'ablation run finished');
      reports.push(report);
    }
    rows.push(ablationRow(model, reports, tasks));
  }

  const results: AblationResults = {
    dataset: datasetName,
    command: ablationCommand(options, datasetName),
    split: rows[0]?.split ?? 'test',
    excludeSeen: options.filterSeen,
    examples: Object.fromEntries(tasks.map((task) => [task, rows.find((row) => row.metrics[task] !== undefined)?.metrics[task]?.examples ?? 0])),
    tasks,
    budgetMinutes: options.budget,
    budgetPerTask: options.budgetPerTask,
    seed: options.seed,
    machine: `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node.js ${process.version}`,
    wallSeconds: (performance.now() - started) / 1000,
    loadAverage: { start: loadAtStart, end: loadavg()[0]! },
    createdAt: new Date().toISOString(),
    rows,
  };
  const paths = await writeAblationResults(resolve(options.results), results);
  logger.info({ ...paths, minutes: Number((results.wallSeconds / 60).toFixed(1)) }, 'ablation finished');
  return { ...paths, results };
}

/** Resolves `--dataset`: a path to a config file, or the name of one under datasets/. */
function datasetConfigPath(dataset: string): string {
  const candidates = dataset.endsWith('.json') ? [resolve(dataset)] : [resolve('datasets', `${dataset}.json`), resolve(dataset)];
  const found = candidates.find((path) => existsSync(path) && path.endsWith('.json'));
  if (found === undefined) {
    throw new InvalidArgumentError(`dataset "${dataset}" not found: looked for ${candidates.join(' and ')}; pass a name under datasets/ or a config path`);
  }
  return found;
}

/** Ingests the dataset into <work>/data, generating the synthetic logs first when asked to. */
async function ingestDataset(configPath: string, datasetName: string, work: string, options: AblationOptions, logger: Logger): Promise<string> {
  let dataRoot = options.dataRoot ?? process.env.MCM_DATA_ROOT;
  if (datasetName === 'synth' && options.dataRoot === undefined) {
    dataRoot = join(work, 'raw');
    logger.info({ customers: options.synthCustomers, seed: options.seed, out: dataRoot }, 'generating the synthetic logs');
    await generate({ parameters: resolveParameters({ customers: options.synthCustomers, seed: options.seed }), outDir: dataRoot, overwrite: true, logger });
  }
  if (dataRoot === undefined || dataRoot === '') {
    throw new InvalidArgumentError('no data root: pass --data-root <dir> or set MCM_DATA_ROOT to the directory that contains the dataset folders');
  }

  const outDir = join(work, 'data');
  const config = await loadDatasetConfig(configPath);
  await runIngest({ config, configSource: configPath, dataRoot: resolve(dataRoot), outDir, memoryLimit: INGEST_DEFAULTS.memoryLimit, threads: INGEST_DEFAULTS.threads, logger });
  return outDir;
}

/** Builds the options of one `train` run, with the train command's own defaults for everything the ablation does not set. */
function trainOptions(options: AblationOptions, dataDir: string, out: string, model: string, tasks: string[], budget: number): TrainCommandOptions {
  const args = ['--data', dataDir, '--out', out, '--model', model, '--tasks', tasks.join(','), '--budget-minutes', String(budget)];
  args.push('--seed', String(options.seed), '--backend', options.backend);
  if (options.maxLength !== undefined) args.push('--max-length', String(options.maxLength));
  if (options.customersPerBatch !== undefined) args.push('--customers-per-batch', String(options.customersPerBatch));
  if (options.filterSeen) args.push('--filter-seen');
  const command = addTrainOptions(new Command('train').exitOverride());
  command.parse(args, { from: 'user' });
  return command.opts<TrainCommandOptions>();
}

/** Builds a model's table row from its runs: each task's metrics come from the run that trained it. */
function ablationRow(model: string, reports: readonly MetricsReport[], tasks: readonly string[]): AblationRow {
  const metrics: AblationRow['metrics'] = {};
  for (const task of tasks) {
    const report = reports.find((candidate) => candidate.tasks[task] !== undefined);
    if (report !== undefined) metrics[task] = report.tasks[task]!;
  }
  const training = reports.map((report) => report.training ?? {});
  return {
    model,
    description: findModelVariant(model).description,
    backend: reports[0]?.backend ?? 'none',
    split: reports[0]?.split ?? 'test',
    metrics,
    steps: training.reduce((sum, part) => sum + (typeof part.steps === 'number' ? part.steps : 0), 0),
    wallSeconds: training.reduce((sum, part) => sum + (typeof part.wallSeconds === 'number' ? part.wallSeconds : 0), 0),
    runs: reports.map((report) => ({ tasks: Object.keys(report.tasks), checkpoint: report.checkpoint, training: report.training })),
  };
}

/** Returns the command line that reproduces the table, as printed above it. */
function ablationCommand(options: AblationOptions, datasetName: string): string {
  const parts = ['npx nx run trainer:ablation --', '--dataset', datasetName, '--budget', String(options.budget), '--seed', String(options.seed)];
  if (options.models.join(',') !== ABLATION_MODELS.join(',')) parts.push('--models', options.models.join(','));
  if (options.budgetPerTask) parts.push('--budget-per-task');
  if (options.tasks !== undefined) parts.push('--tasks', options.tasks.join(','));
  if (options.maxLength !== undefined) parts.push('--max-length', String(options.maxLength));
  if (options.customersPerBatch !== undefined) parts.push('--customers-per-batch', String(options.customersPerBatch));
  if (options.filterSeen) parts.push('--filter-seen');
  if (options.data !== undefined) parts.push('--data', options.data);
  else if (datasetName === 'synth' && options.dataRoot === undefined) parts.push('--synth-customers', String(options.synthCustomers));
  if (options.backend !== 'auto') parts.push('--backend', options.backend);
  return parts.join(' ');
}
