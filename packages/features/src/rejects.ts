import { join } from 'node:path';
import type { DatasetConfig, RowEventSource } from '@mcm/schema';
import type { ColumnPlan } from './column-plan.ts';
import type { DuckDBSession } from './duckdb-session.ts';
import { rejectedRowsSelect, RAW_EVENTS_TABLE } from './event-loader.ts';
import { READER_REJECTS_TABLE, READER_SCANS_TABLE } from './file-reader.ts';
import { readerErrorReason, REJECT_REASONS, type RejectReason } from './reject-reasons.ts';
import type { SourceFile } from './source-files.ts';
import { sqlString } from './sql.ts';

/** Name of the reject file inside the output directory. */
export const REJECT_FILE = 'rejects.csv';

/** How many rejects the error message of a failed run quotes. */
const QUOTED_REJECTS = 5;

/** Counts of the rows read and rejected, over every event source file. */
export interface RejectSummary {
  /** Source rows read, including the lines the CSV reader could not parse. */
  rowsRead: number;
  rejectedRows: number;
  /** Reason -> rows, keys sorted. */
  rejectsByReason: Record<string, number>;
}

/** An event source file with the source it belongs to. */
export interface EventFile {
  file: SourceFile;
  source: DatasetConfig['events'][number];
}

/**
 * Collects the rejects of every event file: the lines the CSV reader could not parse
 * (wrong field count, bad encoding) and the rows RAW_EVENTS_TABLE marks with a reason.
 * Leaves them counted in the returned summary and listed in the `rejects` table.
 */
export async function collectRejects(session: DuckDBSession, files: readonly EventFile[], plan: ColumnPlan): Promise<RejectSummary> {
  await createFilesTable(session, files);
  await createLineRejectsTable(session);

  const rowRejectFiles = await session.rows(
    `SELECT DISTINCT file_index FROM ${RAW_EVENTS_TABLE} WHERE reason IS NOT NULL ORDER BY file_index`,
  );
  await session.run('CREATE TEMP TABLE row_rejects (file_index INTEGER, record BIGINT, reason VARCHAR, raw VARCHAR)');
  for (const row of rowRejectFiles) {
    const eventFile = files.find((candidate) => candidate.file.index === Number(row.file_index))!;
    // Only row sources mark rows with a reason; customer-sequence lines fail in the reader.
    const { sql } = await rejectedRowsSelect(session, eventFile.source as RowEventSource, eventFile.file, plan);
    await session.run(`INSERT INTO row_rejects ${sql}`);
  }
  await createRejectsTable(session);

  const counts = await session.rows(`SELECT reason, count(*) AS n FROM rejects GROUP BY reason ORDER BY reason`);
  const rejectsByReason = Object.fromEntries(counts.map((row) => [String(row.reason), Number(row.n)]));
  const rejectedRows = Object.values(rejectsByReason).reduce((sum, n) => sum + n, 0);
  const loaded = Number((await session.row(`SELECT count(*) AS n FROM ${RAW_EVENTS_TABLE}`)).n);
  const brokenLines = Number((await session.row('SELECT count(*) AS n FROM line_rejects')).n);
  return { rowsRead: loaded + brokenLines, rejectedRows, rejectsByReason };
}

/** Writes the `rejects` table to `<outDir>/rejects.csv` (file, line, reason, raw) and returns the relative path. */
export async function writeRejectFile(session: DuckDBSession, outDir: string): Promise<string> {
  await session.run(
    `COPY (SELECT f.relative_path AS file, r.line, r.reason, r.raw FROM rejects r JOIN files f USING (file_index) ` +
      `ORDER BY r.file_index, r.line, r.reason) TO ${sqlString(join(outDir, REJECT_FILE))} (FORMAT csv, HEADER true)`,
  );
  return REJECT_FILE;
}

/**
 * Raises when the rejected fraction exceeds the config's maxRejectFraction. The
 * message names the first rejected rows with their file and line, the reject file,
 * and the option that allows more.
 */
export async function assertRejectFraction(
  session: DuckDBSession,
  summary: RejectSummary,
  config: DatasetConfig,
  configSource: string,
  rejectFilePath: string,
): Promise<void> {
  if (summary.rowsRead === 0) return;
  const fraction = summary.rejectedRows / summary.rowsRead;
  if (fraction <= config.maxRejectFraction) return;

  const first = await session.rows(
    `SELECT f.relative_path AS file, r.line, r.reason, r.raw FROM rejects r JOIN files f USING (file_index) ` +
      `ORDER BY r.file_index, r.line, r.reason LIMIT ${QUOTED_REJECTS}`,
  );
  const quoted = first.map((row) => {
    const reason = String(row.reason) as RejectReason;
    const raw = row.raw === null ? '' : String(row.raw);
    const shown = raw.length > 120 ? `${raw.slice(0, 117)}...` : raw;
    return `  ${String(row.file)}:${String(row.line)} ${reason} (${REJECT_REASONS[reason] ?? reason}): ${JSON.stringify(shown)}`;
  });
  const reasons = Object.entries(summary.rejectsByReason)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');

  throw new Error(
    `${summary.rejectedRows} of ${summary.rowsRead} rows (${formatPercent(fraction)}) were rejected (${reasons}), ` +
      `more than maxRejectFraction ${config.maxRejectFraction} (${formatPercent(config.maxRejectFraction)}) of ${configSource} allows. ` +
      `First rejected rows:\n${quoted.join('\n')}\n` +
      `Every rejected row is in ${rejectFilePath}. Fix the source files or the column mapping in the config, ` +
      'or raise maxRejectFraction in the config if these rows are expected.',
  );
}

async function createFilesTable(session: DuckDBSession, files: readonly EventFile[]): Promise<void> {
  await session.run('CREATE TEMP TABLE files (file_index INTEGER, relative_path VARCHAR, absolute_path VARCHAR, header_lines INTEGER)');
  if (files.length === 0) return;
  const values = files.map(({ file, source }) => {
    const headerLines = source.kind === 'rows' && source.format === 'csv' && (source.csv?.header ?? true) ? 1 : 0;
    return `(${file.index}, ${sqlString(file.relativePath)}, ${sqlString(file.absolutePath)}, ${headerLines})`;
  });
  await session.run(`INSERT INTO files VALUES ${values.join(', ')}`);
}

/** Creates `line_rejects` with one row per broken line of an event file; the reader reports one error per missing column, so lines are grouped. */
async function createLineRejectsTable(session: DuckDBSession): Promise<void> {
  const exists = await session.tableExists(READER_REJECTS_TABLE);
  if (!exists) {
    await session.run('CREATE TEMP TABLE line_rejects (file_index INTEGER, line BIGINT, reason VARCHAR, raw VARCHAR)');
    return;
  }
  await session.run(
    `CREATE TEMP TABLE line_rejects AS SELECT f.file_index, e.line, min(${readerErrorReason('e.error_type')}) AS reason, ` +
      `min(e.csv_line) AS raw FROM ${READER_REJECTS_TABLE} e JOIN ${READER_SCANS_TABLE} s USING (scan_id, file_id) ` +
      `JOIN files f ON s.file_path = f.absolute_path GROUP BY f.file_index, e.line`,
  );
}

/**
 * Combines broken lines and rejected rows into `rejects` (file_index, line, reason, raw).
 *
 * A rejected row is known by its record number r, which counts only the records the
 * reader returned. Its line is r + header lines + the broken lines before it. Broken
 * line j (1-based, in line order) at line b_j has b_j - header - j records before it,
 * so record r comes after it exactly when r > b_j - header - j.
 */
async function createRejectsTable(session: DuckDBSession): Promise<void> {
  await session.run(
    `CREATE TEMP TABLE broken_steps AS SELECT file_index, threshold, max(earlier) AS earlier FROM (` +
      `SELECT l.file_index, row_number() OVER (PARTITION BY l.file_index ORDER BY l.line) AS earlier, ` +
      `l.line - f.header_lines - row_number() OVER (PARTITION BY l.file_index ORDER BY l.line) AS threshold ` +
      `FROM line_rejects l JOIN files f USING (file_index)) GROUP BY file_index, threshold`,
  );
  // NOTE: a record that spans several lines (a quoted field with a line break) or a
  // blank line that the CSV reader skips shifts the computed lines of later rows.
  await session.run(
    `CREATE TEMP TABLE rejects AS ` +
      `SELECT file_index, line, reason, raw FROM line_rejects UNION ALL ` +
      `SELECT r.file_index, r.record + f.header_lines + coalesce(b.earlier, 0) AS line, r.reason, r.raw ` +
      `FROM row_rejects r JOIN files f USING (file_index) ` +
      `ASOF LEFT JOIN broken_steps b ON r.file_index = b.file_index AND r.record > b.threshold`,
  );
}

function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(fraction < 0.001 ? 3 : 1)}%`;
}
