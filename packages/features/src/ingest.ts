import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createLogger, startProgress, type Logger } from '@mcm/common';
import type { DatasetConfig, Manifest } from '@mcm/schema';
import { loadCatalog } from './catalog-loader.ts';
import { planColumns, type ColumnPlan } from './column-plan.ts';
import { DuckDBSession } from './duckdb-session.ts';
import { createRawEventsTable, loadRowSource, loadSequenceSource, type FileLoad } from './event-loader.ts';
import { computeFingerprint } from './fingerprint.ts';
import { writeManifest } from './manifest-builder.ts';
import { assertRejectFraction, collectRejects, writeRejectFile, type EventFile } from './rejects.ts';
import { buildShardEvents, writeShards } from './shard-writer.ts';
import { resolveSourceFiles, type ResolvedSources, type SourceFile } from './source-files.ts';
import { buildKeptCustomersTable, buildOrderedEvents, buildSequencedTable, dropSequences, eventTimeRange, SEQUENCED_TABLE } from './sequences.ts';
import { discardOutput, prepareOutput, publishOutput, type OutputPaths } from './output-directory.ts';
import { manifestSplit, resolveCutoffs } from './split.ts';
import { buildVocabularies } from './vocabulary.ts';

/** Defaults of the machine-side ingest options, each with its reason. */
export const INGEST_DEFAULTS = {
  /** DuckDB spills to disk beyond this; scripts/bench-ingest.ts measured a 10M-event ingest under 1.5 GiB of peak RSS with it. */
  memoryLimit: '1GB',
  /** DuckDB parallelises scans, joins and sorts over every core it is given. */
  threads: availableParallelism(),
} as const;

export interface IngestOptions {
  config: DatasetConfig;
  /** Names the config in messages, usually its path. */
  configSource: string;
  /** Directory that the config's source globs are relative to. */
  dataRoot: string;
  outDir: string;
  /** DuckDB memory_limit, e.g. "1GB". */
  memoryLimit?: string;
  threads?: number;
  logger?: Logger;
}

/**
 * Turns the raw logs of a dataset config into vocabularies, per-customer feature
 * sequences in shards, a reject file and manifest.json under `outDir`. The same
 * config and files give byte-identical output. Raises when a glob matches nothing, a
 * column is missing, the rejected fraction is above maxRejectFraction, or no valid
 * event remains.
 *
 * The output is written into a staging directory and replaces the previous output
 * only when it is complete, so a failed run leaves the previous output as it was. The
 * reject file of a failed run is kept in `<outDir>/failed/`, and the error names it.
 */
export async function runIngest(options: IngestOptions): Promise<Manifest> {
  const { config, outDir } = options;
  const logger = options.logger ?? createLogger('ingest', { dataset: config.name });
  const memoryLimit = options.memoryLimit ?? INGEST_DEFAULTS.memoryLimit;
  const threads = options.threads ?? INGEST_DEFAULTS.threads;
  logger.info({ config: options.configSource, dataRoot: options.dataRoot, outDir, memoryLimit, threads }, 'ingest started');

  const sources = await resolveSourceFiles(config, options.dataRoot);
  const eventFiles: EventFile[] = sources.events.flatMap((files, position) => files.map((file) => ({ file, source: config.events[position]! })));
  const fingerprint = await computeFingerprint(config, [...eventFiles.map(({ file }) => file), ...sources.catalog]);

  const paths = await prepareOutput(outDir);
  let manifest: Manifest;
  try {
    manifest = await writeOutput({ ...options, memoryLimit, threads }, paths, sources, eventFiles, fingerprint, logger);
  } catch (error) {
    const keptRejects = await discardOutput(paths);
    // The caller reports the message; the stack is for debugging (MCM_LOG_LEVEL=debug).
    logger.debug({ err: error }, 'ingest failed');
    throw keptRejects ? withRejectFileNote(error, paths.failedRejectFile) : error;
  }

  await publishOutput(paths);
  const rejectFile = manifest.rejectFile === null ? null : join(outDir, manifest.rejectFile);
  logger.info(
    { customers: manifest.customers, events: manifest.events, rejectedRows: manifest.rejectedRows, rejectFile, duplicateRows: manifest.duplicateRows, outDir },
    'ingest finished',
  );
  return manifest;
}

/** Runs the ingest into the staging directory of `paths` and returns the manifest written there. */
async function writeOutput(
  options: IngestOptions & { memoryLimit: string; threads: number },
  paths: OutputPaths,
  sources: ResolvedSources,
  eventFiles: EventFile[],
  fingerprint: string,
  logger: Logger,
): Promise<Manifest> {
  const { config, memoryLimit, threads } = options;
  const outDir = paths.staging;
  const session = await DuckDBSession.open({ memoryLimit, threads, temporaryDirectory: paths.spill, logger });
  try {
    const plan = planColumns(config);

    // 1. Read every source row, marking the invalid ones with a reject reason.
    await createRawEventsTable(session, plan);
    const loads = await loadEvents(session, config, sources.events, plan, logger);
    const hasCatalog = config.catalog !== null;
    if (config.catalog !== null) await loadCatalog(session, config.catalog, sources.catalog, plan, logger);

    // 2. Count the rejects, write them out, and stop if there are too many.
    const rejects = await collectRejects(session, eventFiles, plan);
    const rejectFile = rejects.rejectedRows > 0 ? await writeRejectFile(session, outDir) : null;
    if (rejects.rejectedRows > 0) logger.warn({ rejectedRows: rejects.rejectedRows, byReason: rejects.rejectsByReason }, 'rows rejected');
    await assertRejectFraction(session, rejects, config, options.configSource, paths.failedRejectFile);

    // 3. Order each customer's events, drop duplicates, filter, truncate and split.
    const { duplicateRows, filteredEvents } = await buildOrderedEvents(session, config, plan);
    const range = await eventTimeRange(session);
    if (range === null) throw noEventsError(loads, rejects.rowsRead, options);
    const cutoffs = resolveCutoffs(config.split, range.first, range.last);
    const truncatedEvents = await buildSequencedTable(session, config, cutoffs);
    await buildKeptCustomersTable(session, config);
    logger.info({ duplicateRows, filteredEvents, truncatedEvents, cutoffs }, 'sequences built');

    // 4. Vocabularies from the training period, then the shards.
    const vocabularies = await buildVocabularies(session, config, plan, hasCatalog, outDir);
    const vocabularySizes = vocabularies.sizes;
    logger.info({ vocabularies: Object.fromEntries(config.features.map((feature, i) => [feature.name, vocabularySizes[i]])) }, 'vocabularies built');
    const counts = await session.row(
      `SELECT count(*) AS events, count(*) FILTER (WHERE split = 0) AS train, count(*) FILTER (WHERE split = 1) AS validation, ` +
        `count(*) FILTER (WHERE split = 2) AS test, count(*) FILTER (WHERE first_event) AS customers FROM ${SEQUENCED_TABLE}`,
    );
    await buildShardEvents(session, vocabularies.columns);
    await dropSequences(session);
    const shards = await writeShards(session, config.shards, config.features, outDir, logger);

    // 5. The manifest last, so that its presence marks a complete output.
    return await writeManifest(
      outDir,
      config,
      {
        customers: Number(counts.customers),
        events: Number(counts.events),
        rowsRead: rejects.rowsRead,
        rejectedRows: rejects.rejectedRows,
        rejectsByReason: rejects.rejectsByReason,
        duplicateRows,
        filteredEvents,
        truncatedEvents,
        splitEvents: { train: Number(counts.train), validation: Number(counts.validation), test: Number(counts.test) },
      },
      vocabularySizes,
      { split: manifestSplit(config.split, cutoffs), shards, fingerprint, rejectFile },
    );
  } finally {
    await session.close();
  }
}

async function loadEvents(
  session: DuckDBSession,
  config: DatasetConfig,
  files: readonly (readonly SourceFile[])[],
  plan: ColumnPlan,
  logger: Logger,
): Promise<FileLoad[]> {
  const progress = startProgress(logger, 'read sources', 0, 'rows');
  let rowsDone = 0;
  const onProgress = (percentDone: number) => progress.update(rowsDone, { source: `${percentDone.toFixed(0)}%` });

  const loads: FileLoad[] = [];
  for (const [position, source] of config.events.entries()) {
    const sourceFiles = files[position]!;
    const sourceLoads =
      source.kind === 'rows'
        ? await loadRowSource(session, source, position, sourceFiles, plan, logger, onProgress)
        : await loadSequenceSource(session, source, sourceFiles, plan, onProgress);
    for (const load of sourceLoads) {
      rowsDone += load.rows;
      progress.update(rowsDone);
      logger.debug({ file: load.file.relativePath, rows: load.rows }, 'source file read');
    }
    loads.push(...sourceLoads);
  }
  progress.stop();
  return loads;
}

function noEventsError(loads: readonly FileLoad[], rowsRead: number, options: IngestOptions): Error {
  const files = loads.map((load) => `${load.file.relativePath} (${load.empty ? 'empty' : `${load.rows} rows`})`).join(', ');
  let reason = 'no valid event remains after removing rejects and applying the filter';
  let hint = 'Check the events path in the config and the data root, or lower the filter thresholds.';
  if (rowsRead === 0) reason = 'the source files contain no data rows (empty, or only a header)';
  if (loads.every((load) => load.empty)) {
    reason = loads.length === 1 ? 'the only source file is empty' : 'every source file is empty';
    hint = 'Write the files again (an interrupted export or generator leaves them empty), or point the events path at other files.';
  }
  return new Error(`no events to write for ${options.configSource}: ${reason}. Files read under ${options.dataRoot}: ${files}. ${hint}`);
}

/**
 * Adds to the message of an error after which the run's rejects were kept where they
 * are. The error of a rejected fraction above the limit names the file already.
 */
function withRejectFileNote(error: unknown, rejectFile: string): unknown {
  if (!(error instanceof Error) || error.message.includes(rejectFile)) return error;
  error.message = `${error.message} The rows this run rejected are in ${rejectFile}.`;
  return error;
}
