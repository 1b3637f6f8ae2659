import type { Logger } from '@mcm/common';
import type { RowEventSource, SequenceEventSource } from '@mcm/schema';
import type { ColumnPlan } from './column-plan.ts';
import type { DuckDBSession } from './duckdb-session.ts';
import { isEmptyFile, openFileReader, READER_REJECTS_TABLE, READER_SCANS_TABLE, type FileReader, type ReadMode } from './file-reader.ts';
import type { SourceFile } from './source-files.ts';
import { sqlString } from './sql.ts';
import { timeExpression } from './time-expression.ts';

/**
 * The table every event source is loaded into, one row per source row:
 * file_index, customer, time_ms, event_type, item, the event columns e_<k>, the
 * tie-break hash `tie`, and `reason`, which is NULL for a valid row and a reject
 * reason otherwise.
 */
export const RAW_EVENTS_TABLE = 'raw_events';

/** Creates RAW_EVENTS_TABLE with one column per event column of the plan. */
export async function createRawEventsTable(session: DuckDBSession, plan: ColumnPlan): Promise<void> {
  const eventColumns = plan.eventColumns.map((need, k) => `e_${k} ${need.shape === 'list' ? 'VARCHAR[]' : 'VARCHAR'}`);
  await session.run(
    `CREATE TABLE ${RAW_EVENTS_TABLE} (file_index INTEGER, customer VARCHAR, time_ms DOUBLE, event_type VARCHAR, item VARCHAR, ` +
      `${[...eventColumns, 'tie UBIGINT', 'reason VARCHAR'].join(', ')})`,
  );
}

/** Rows of one file's load, for logs and the progress bar. */
export interface FileLoad {
  file: SourceFile;
  rows: number;
  /** The file has no content at all: no bytes, or a compressed file of nothing. */
  empty: boolean;
}

/**
 * Loads every file of a row source (CSV, JSON lines, Parquet) into RAW_EVENTS_TABLE.
 * `position` is the source's index in `events`, used in error messages.
 */
export async function loadRowSource(
  session: DuckDBSession,
  source: RowEventSource,
  position: number,
  files: readonly SourceFile[],
  plan: ColumnPlan,
  logger: Logger,
  onProgress: (percentDone: number) => void,
): Promise<FileLoad[]> {
  // An empty file has no header to describe, so it is left out of the read.
  const empty = new Set<number>();
  for (const file of files) {
    if (!(await isEmptyFile(session, file))) continue;
    empty.add(file.index);
    logger.warn({ file: file.relativePath }, 'source file is empty; it contributes no events');
  }
  const readable = files.filter((file) => !empty.has(file.index));

  if (readable.length > 0) {
    const reader = await openFileReader(session, readable, source.format, source.csv);
    assertColumns(reader, source, position, plan);
    await session.runWithProgress(`INSERT INTO ${RAW_EVENTS_TABLE} ${rowSourceSelect(reader, source, plan, 'load')}`, onProgress);
  }

  const rowsByFile = await countRowsByFile(session, files);
  const loads = files.map((file) => ({ file, rows: rowsByFile.get(file.index) ?? 0, empty: empty.has(file.index) }));
  for (const load of loads) {
    if (load.rows === 0 && !load.empty) {
      logger.warn({ file: load.file.relativePath }, 'source file has no data rows (only a header, or every line is broken)');
    }
  }
  return loads;
}

/**
 * Selects the rejected rows of one file with their record number and raw text:
 * columns file_index, record, reason, raw. Used to write the reject file.
 */
export async function rejectedRowsSelect(
  session: DuckDBSession,
  source: RowEventSource,
  file: SourceFile,
  plan: ColumnPlan,
): Promise<{ sql: string; headerLines: number }> {
  const reader = await openFileReader(session, [file], source.format, source.csv);
  return { sql: rowSourceSelect(reader, source, plan, 'locate'), headerLines: reader.headerLines };
}

/** Builds the SELECT that maps one file's rows to the columns of RAW_EVENTS_TABLE. */
function rowSourceSelect(reader: FileReader, source: RowEventSource, plan: ColumnPlan, mode: ReadMode): string {
  const text = (name: string) => reader.column(name, 'text');
  const time = source.time;
  const plusMilliseconds = 'plusMillisecondsColumn' in time && time.plusMillisecondsColumn !== undefined ? text(time.plusMillisecondsColumn) : null;
  const eventType = source.eventType.column !== undefined ? `nullif(${text(source.eventType.column)}, '')` : sqlString(source.eventType.constant!);

  const fields = [
    `${reader.fileIndex} AS file_index`,
    `${reader.brokenRow ?? 'false'} AS broken`,
    `nullif(${text(source.customer)}, '') AS customer`,
    `${timeExpression(time, reader.typedColumn(time.column), reader.columnType(time.column), plusMilliseconds)} AS time_ms`,
    `${eventType} AS event_type`,
    `nullif(${text(source.item)}, '') AS item`,
    ...plan.eventColumns.map((need, k) => `${reader.column(need.column, need.shape)} AS e_${k}`),
    `${reader.rowHash} AS tie`,
  ];
  if (mode === 'locate') fields.push(`${reader.record} AS record`, `${reader.rawText} AS raw`);
  const where = reader.skipRow === null ? '' : ` WHERE NOT ${reader.skipRow}`;
  const rows = `SELECT ${fields.join(', ')} FROM ${reader.from(mode)}${where}`;

  const allowed = source.eventType.allowed;
  const reason =
    `CASE WHEN broken THEN 'invalid-json' ` +
    `WHEN customer IS NULL THEN 'missing-customer' ` +
    `WHEN time_ms IS NULL THEN 'unparseable-timestamp' ` +
    (allowed === undefined ? '' : `WHEN event_type IS NOT NULL AND event_type NOT IN (${allowed.map(sqlString).join(', ')}) THEN 'unknown-event-type' `) +
    'END';

  if (mode === 'locate') {
    return `SELECT file_index, record, reason, raw FROM (SELECT file_index, record, raw, ${reason} AS reason FROM (${rows})) WHERE reason IS NOT NULL`;
  }
  const eventColumns = plan.eventColumns.map((_, k) => `e_${k}`);
  return `SELECT ${['file_index', 'customer', 'time_ms', 'event_type', 'item', ...eventColumns, 'tie'].join(', ')}, ${reason} AS reason FROM (${rows})`;
}

/**
 * Loads a file of customer sequences (`customer item1 item2 ...` per line) into
 * RAW_EVENTS_TABLE. Each item becomes one event whose time is its 0-based position
 * on the line. Lines are read whole, so broken bytes reject a line, not the file.
 */
export async function loadSequenceSource(
  session: DuckDBSession,
  source: SequenceEventSource,
  files: readonly SourceFile[],
  plan: ColumnPlan,
  onProgress: (percentDone: number) => void,
): Promise<FileLoad[]> {
  if (plan.eventColumns.length > 0) {
    const columns = plan.eventColumns.map((need) => `"${need.column}"`).join(', ');
    throw new Error(`features read the event columns ${columns}, but customer-sequence files have only a customer and items; read them from the catalog`);
  }

  const loads: FileLoad[] = [];
  for (const file of files) {
    const lines =
      `read_csv(${sqlString(file.absolutePath)}, columns = {'line': 'VARCHAR'}, header = false, delim = E'\\x01', ` +
      `quote = '', escape = '', auto_detect = false, encoding = ${sqlString(source.encoding)}, ` +
      `store_rejects = true, rejects_table = ${sqlString(READER_REJECTS_TABLE)}, rejects_scan = ${sqlString(READER_SCANS_TABLE)})`;
    const tokens = `list_filter(string_split(line, ${sqlString(source.delimiter)}), lambda token: token <> '')`;
    const sql =
      `INSERT INTO ${RAW_EVENTS_TABLE} (file_index, customer, time_ms, event_type, item, tie, reason) ` +
      `SELECT ${file.index}, customer, CAST(position - 1 AS DOUBLE), ${sqlString(source.eventType.constant)}, item, ` +
      `hash(customer, position, item), NULL ` +
      `FROM (SELECT tokens[1] AS customer, unnest(tokens[2:]) AS item, generate_subscripts(tokens[2:], 1) AS position ` +
      `FROM (SELECT ${tokens} AS tokens FROM ${lines} WHERE line IS NOT NULL) WHERE len(tokens) > 1)`;

    const before = await countRawRows(session);
    await session.runWithProgress(sql, onProgress);
    const rows = (await countRawRows(session)) - before;
    loads.push({ file, rows, empty: rows === 0 && (await isEmptyFile(session, file)) });
  }
  return loads;
}

function assertColumns(reader: FileReader, source: RowEventSource, position: number, plan: ColumnPlan): void {
  const required: Array<[string, string]> = [
    [source.customer, 'customer'],
    [source.item, 'item'],
    [source.time.column, 'time.column'],
  ];
  if ('plusMillisecondsColumn' in source.time && source.time.plusMillisecondsColumn !== undefined) {
    required.push([source.time.plusMillisecondsColumn, 'time.plusMillisecondsColumn']);
  }
  if (source.eventType.column !== undefined) required.push([source.eventType.column, 'eventType.column']);
  for (const need of plan.eventColumns) required.push([need.column, `a feature's "column"`]);

  const available = new Set(reader.columns);
  for (const [column, field] of required) {
    if (available.has(column)) continue;
    const hint =
      reader.format === 'csv'
        ? 'fix the column name, or the csv options (delimiter, header, columns) if the column list looks wrong'
        : 'fix the column name';
    throw new Error(
      `${reader.files[0]!.relativePath} has no column "${column}" (events[${position}].${field}); ` +
        `its columns are: ${reader.columns.join(', ') || '(none)'}; ${hint}`,
    );
  }
}

async function countRawRows(session: DuckDBSession): Promise<number> {
  const row = await session.row(`SELECT count(*) AS n FROM ${RAW_EVENTS_TABLE}`);
  return Number(row.n);
}

/** Counts the rows that RAW_EVENTS_TABLE holds for each of `files`, by file index. */
async function countRowsByFile(session: DuckDBSession, files: readonly SourceFile[]): Promise<Map<number, number>> {
  const indexes = files.map((file) => file.index).join(', ');
  if (indexes === '') return new Map();
  const rows = await session.rows(`SELECT file_index, count(*) AS n FROM ${RAW_EVENTS_TABLE} WHERE file_index IN (${indexes}) GROUP BY file_index`);
  return new Map(rows.map((row) => [Number(row.file_index), Number(row.n)]));
}
