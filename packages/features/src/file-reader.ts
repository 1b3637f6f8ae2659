import { DATASET_CONFIG_DEFAULTS, type CsvOptions, type FileFormat } from '@mcm/schema';
import type { ColumnShape } from './column-plan.ts';
import type { DuckDBSession } from './duckdb-session.ts';
import type { SourceFile } from './source-files.ts';
import { jsonPath, sqlIdentifier, sqlString, sqlStringList } from './sql.ts';

/** DuckDB tables that collect the lines the CSV reader could not parse (wrong field count, bad encoding). */
export const READER_REJECTS_TABLE = 'reader_rejects';
export const READER_SCANS_TABLE = 'reader_scans';

/**
 * Mode of reading files. `load` is the main pass and records broken lines in
 * READER_REJECTS_TABLE. `locate` re-reads a file to find the line and raw text of
 * rejected rows, so it numbers the records and records nothing.
 */
export type ReadMode = 'load' | 'locate';

/**
 * Reads the table-like files (CSV, JSON lines or Parquet) of one source as rows of
 * named columns, aliased `src`. One table function call reads all the files, so DuckDB
 * decompresses several files in parallel.
 */
export interface FileReader {
  files: readonly SourceFile[];
  format: FileFormat;
  /** Column names as the files present them; for JSON lines, the keys of the first lines. */
  columns: string[];
  /** The FROM clause (ending in the alias `src`); `numbered` adds `record` (always on in `locate` mode). */
  from(mode: ReadMode, numbered?: boolean): string;
  /** SQL of a column's value, as VARCHAR (text) or VARCHAR[] (list). */
  column(name: string, shape: ColumnShape): string;
  /** SQL of a column's value in the type the file stores (timestamps stay timestamps in Parquet). */
  typedColumn(name: string): string;
  /** DuckDB type of a column as the file stores it. */
  columnType(name: string): string;
  /** SQL of the index (SourceFile.index) of the file that a row comes from. */
  fileIndex: string;
  /**
   * SQL of a row's content hash, the neutral tie-break between events of the same time.
   * NOTE: DuckDB's hash() is not specified across DuckDB versions, so the order of
   * same-time events, and with it the output bytes, may change with a DuckDB upgrade.
   */
  rowHash: string;
  /** SQL that is true for rows to skip without counting (blank lines of JSON lines). */
  skipRow: string | null;
  /** SQL that is true for rows that cannot be parsed at all (invalid JSON), or null. */
  brokenRow: string | null;
  /** With `numbered`: the record number (1-based, counting only records the reader returned). */
  record: string;
  /** In `locate` mode: the row's text for the reject file. */
  rawText: string;
  /** Lines before the first record (a CSV header); the line of record r is r + headerLines + earlier broken lines. */
  headerLines: number;
}

/** Column of the reader's output that names each row's file; the name avoids clashes with data columns. */
const SOURCE_FILE_COLUMN = 'mcm_source_file';

/** How many lines of JSON lines files are sampled to list their keys. */
const JSON_KEY_SAMPLE_LINES = 1000;

/**
 * Opens `files` (files of one source) with the format's reader and lists their
 * columns, which must be the same in every file. A `locate` read takes one file at a
 * time, because record numbers count within a file.
 */
export async function openFileReader(
  session: DuckDBSession,
  files: readonly SourceFile[],
  format: FileFormat,
  csv: CsvOptions | undefined,
): Promise<FileReader> {
  if (files.length === 0) throw new Error('openFileReader needs at least one file');
  if (format === 'csv') return openCsvReader(session, files, { ...defaultCsvOptions(), ...csv });
  if (format === 'parquet') return openParquetReader(session, files);
  return openJsonLinesReader(session, files);
}

function defaultCsvOptions(): CsvOptions {
  return { ...DATASET_CONFIG_DEFAULTS.csv, nullValues: [...DATASET_CONFIG_DEFAULTS.csv.nullValues] };
}

/** Options of read_csv shared by both modes; every value comes from the config, none is sniffed. */
function csvArguments(csv: CsvOptions): string {
  const parts = [
    'all_varchar = true',
    `header = ${csv.header}`,
    `delim = ${sqlString(csv.delimiter)}`,
    `quote = ${sqlString(csv.quote)}`,
    `escape = ${sqlString(csv.escape)}`,
    `encoding = ${sqlString(csv.encoding)}`,
    `nullstr = ${sqlStringList(csv.nullValues)}`,
  ];
  if (csv.columns !== undefined) parts.push(`names = ${sqlStringList(csv.columns)}`);
  return parts.join(', ');
}

/** Options that record broken lines (`load`) or skip them silently (`locate`, which re-reads a file already counted). */
function rejectArguments(mode: ReadMode): string {
  return mode === 'load'
    ? `store_rejects = true, rejects_table = ${sqlString(READER_REJECTS_TABLE)}, rejects_scan = ${sqlString(READER_SCANS_TABLE)}`
    : 'ignore_errors = true';
}

/** SQL of the list of the files' paths, the first argument of DuckDB's readers. */
function pathList(files: readonly SourceFile[]): string {
  return `[${files.map((file) => sqlString(file.absolutePath)).join(', ')}]`;
}

/** The reader option that adds SOURCE_FILE_COLUMN, needed only when one call reads several files. */
function fileNameArgument(files: readonly SourceFile[]): string {
  return files.length > 1 ? `, filename = ${sqlString(SOURCE_FILE_COLUMN)}` : '';
}

/** SQL of a row's file index, looked up by the path that DuckDB reports in SOURCE_FILE_COLUMN. */
function fileIndexExpression(files: readonly SourceFile[]): string {
  if (files.length === 1) return String(files[0]!.index);
  const indexes = `[${files.map((file) => file.index).join(', ')}]`;
  return `CAST(${indexes}[list_position(${pathList(files)}, src.${SOURCE_FILE_COLUMN})] AS INTEGER)`;
}

async function openCsvReader(session: DuckDBSession, files: readonly SourceFile[], csv: CsvOptions): Promise<FileReader> {
  const call = (mode: ReadMode) => `read_csv(${pathList(files)}, ${csvArguments(csv)}, ${rejectArguments(mode)}${fileNameArgument(files)})`;
  const suspect = `the CSV options (delimiter ${JSON.stringify(csv.delimiter)}, encoding ${csv.encoding})`;
  const described = await describeFiles(session, files, (file) => `read_csv(${sqlString(file.absolutePath)}, ${csvArguments(csv)}, ignore_errors = true)`, suspect);
  const columns = described.map((column) => column.name);
  const fields = columns.map((name) => `src.${sqlIdentifier(name)}`);

  return {
    files,
    format: 'csv',
    columns,
    from: (mode, numbered = mode === 'locate') => numberedFrom(call(mode), numbered),
    column: (name, shape) => {
      if (shape === 'list') throw listColumnError(files[0]!, name, 'VARCHAR');
      return `src.${sqlIdentifier(name)}`;
    },
    typedColumn: (name) => `src.${sqlIdentifier(name)}`,
    columnType: () => 'VARCHAR',
    fileIndex: fileIndexExpression(files),
    rowHash: `hash(${fields.join(', ')})`,
    skipRow: null,
    brokenRow: null,
    record: 'src.ordinality',
    // The fields joined again with the delimiter; quoting of the original line is not restored.
    rawText: `array_to_string([${fields.map((field) => `coalesce(${field}, '')`).join(', ')}], ${sqlString(csv.delimiter)})`,
    headerLines: csv.header ? 1 : 0,
  };
}

async function openParquetReader(session: DuckDBSession, files: readonly SourceFile[]): Promise<FileReader> {
  // Row numbers only when numbered, so that the row hash covers the files' own columns only.
  const call = (numbered: boolean) => `read_parquet(${pathList(files)}${numbered ? ', file_row_number = true' : ''}${fileNameArgument(files)})`;
  const described = await describeFiles(session, files, (file) => `read_parquet(${sqlString(file.absolutePath)})`, 'the format (is it really Parquet?)');
  const types = new Map(described.map((column) => [column.name, column.type]));
  const fields = described.map((column) => `src.${sqlIdentifier(column.name)}`);

  return {
    files,
    format: 'parquet',
    columns: described.map((column) => column.name),
    from: (mode, numbered = mode === 'locate') => `${call(numbered)} AS src`,
    column: (name, shape) => {
      const type = types.get(name) ?? 'VARCHAR';
      const value = `src.${sqlIdentifier(name)}`;
      if (shape === 'text') {
        if (type.endsWith('[]')) throw new Error(`${files[0]!.relativePath}: column "${name}" is a list (${type}); read it with a multi-valued feature`);
        return `CAST(${value} AS VARCHAR)`;
      }
      if (!type.endsWith('[]')) throw listColumnError(files[0]!, name, type);
      return `list_transform(${value}, lambda value: CAST(value AS VARCHAR))`;
    },
    typedColumn: (name) => `src.${sqlIdentifier(name)}`,
    columnType: (name) => types.get(name) ?? 'VARCHAR',
    fileIndex: fileIndexExpression(files),
    rowHash: `hash(${fields.join(', ')})`,
    skipRow: null,
    brokenRow: null,
    record: '(src.file_row_number + 1)',
    rawText: `CAST(to_json({${described.map((column) => `${sqlString(column.name)}: src.${sqlIdentifier(column.name)}`).join(', ')}}) AS VARCHAR)`,
    headerLines: 0,
  };
}

async function openJsonLinesReader(session: DuckDBSession, files: readonly SourceFile[]): Promise<FileReader> {
  // Each line is read whole as one VARCHAR column and parsed with DuckDB's json
  // functions, so a broken line becomes a counted reject with its line number instead
  // of stopping the scan. \x01 never occurs unescaped in valid JSON, so it serves as
  // a delimiter that never splits a line.
  const call = (mode: ReadMode) =>
    `read_csv(${pathList(files)}, columns = {'line': 'VARCHAR'}, header = false, delim = E'\\x01', ` +
    `quote = '', escape = '', auto_detect = false, ${rejectArguments(mode)}${fileNameArgument(files)})`;

  const keys = await session.rows(
    `SELECT DISTINCT unnest(json_keys(line)) AS key FROM (SELECT line FROM ${call('locate')} ` +
      `WHERE json_valid(line) AND json_type(line) = 'OBJECT' LIMIT ${JSON_KEY_SAMPLE_LINES}) ORDER BY key`,
  );
  const object = `(CASE WHEN json_valid(src.line) AND json_type(src.line) = 'OBJECT' THEN src.line END)`;

  return {
    files,
    format: 'jsonl',
    columns: keys.map((row) => String(row.key)),
    from: (mode, numbered = mode === 'locate') => numberedFrom(call(mode), numbered),
    column: (name, shape) => {
      if (shape === 'text') return `json_extract_string(${object}, ${jsonPath(name)})`;
      const value = `json_extract(${object}, ${jsonPath(name)})`;
      return `(CASE WHEN json_type(${value}) = 'ARRAY' THEN from_json(${value}, '["VARCHAR"]') END)`;
    },
    typedColumn: (name) => `json_extract_string(${object}, ${jsonPath(name)})`,
    columnType: () => 'VARCHAR',
    fileIndex: fileIndexExpression(files),
    rowHash: 'hash(src.line)',
    skipRow: `(src.line IS NULL OR trim(src.line) = '')`,
    brokenRow: `(${object} IS NULL)`,
    record: 'src.ordinality',
    rawText: 'src.line',
    headerLines: 0,
  };
}

/** File name endings that DuckDB's readers decompress by default (compression 'auto'). */
const COMPRESSED_ENDINGS = ['.gz', '.zst'];

/**
 * Returns whether a file has no content to read: it has no bytes, or it is compressed
 * and decompresses to no line at all. A gzip file of nothing still has about 20 bytes,
 * and DuckDB describes it as one column named "column0".
 */
export async function isEmptyFile(session: DuckDBSession, file: SourceFile): Promise<boolean> {
  if (file.size === 0) return true;
  if (!COMPRESSED_ENDINGS.some((ending) => file.relativePath.endsWith(ending))) return false;

  const lines =
    `read_csv(${sqlString(file.absolutePath)}, columns = {'line': 'VARCHAR'}, header = false, delim = E'\\x01', ` +
    `quote = '', escape = '', auto_detect = false)`;
  try {
    const row = await session.row(`SELECT count(*) AS n FROM (SELECT 1 FROM ${lines} LIMIT 1)`);
    return Number(row.n) === 0;
  } catch {
    // A file DuckDB cannot read is not empty; the read that follows reports it with its cause.
    return false;
  }
}

/** Wraps a table function call so that `src.ordinality` numbers its rows from 1 when `numbered`. */
function numberedFrom(call: string, numbered: boolean): string {
  return numbered ? `(SELECT * FROM ${call} WITH ORDINALITY) AS src` : `${call} AS src`;
}

/** Describes every file and checks that they all have the first file's columns. */
async function describeFiles(
  session: DuckDBSession,
  files: readonly SourceFile[],
  relation: (file: SourceFile) => string,
  suspect: string,
): Promise<Array<{ name: string; type: string }>> {
  let first: Array<{ name: string; type: string }> | null = null;
  for (const file of files) {
    const described = await describeOrExplain(session, relation(file), file, suspect);
    if (first === null) {
      first = described;
      continue;
    }
    const names = described.map((column) => column.name).join(', ');
    const expected = first.map((column) => column.name).join(', ');
    if (names !== expected) {
      throw new Error(
        `${file.relativePath} has the columns ${names}, but ${files[0]!.relativePath} of the same source has ${expected}; ` +
          'give files with other columns their own source in the config',
      );
    }
  }
  return first!;
}

async function describeOrExplain(
  session: DuckDBSession,
  relation: string,
  file: SourceFile,
  suspect: string,
): Promise<Array<{ name: string; type: string }>> {
  try {
    return await session.describe(relation);
  } catch (error) {
    throw new Error(`${file.relativePath}: DuckDB could not read the file (${firstLine(error)}); check ${suspect}`, { cause: error });
  }
}

function listColumnError(file: SourceFile, name: string, type: string): Error {
  return new Error(
    `${file.relativePath}: column "${name}" is ${type}, but a multi-valued feature without "delimiter" needs a list column; ` +
      'set the feature\'s "delimiter" to the separator of the values',
  );
}

/** Returns the first line of a DuckDB error message, which names the problem. */
export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!;
}
