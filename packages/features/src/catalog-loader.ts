import { open } from 'node:fs/promises';
import type { Logger } from '@mcm/common';
import type { CatalogSource, ItemMapCatalog, RowCatalog } from '@mcm/schema';
import type { ColumnPlan } from './column-plan.ts';
import type { DuckDBSession } from './duckdb-session.ts';
import { firstLine, isEmptyFile, openFileReader, READER_REJECTS_TABLE, READER_SCANS_TABLE } from './file-reader.ts';
import type { SourceFile } from './source-files.ts';
import { sqlString } from './sql.ts';

/** The catalog after loading: one row per item, columns item_key and c_<k>. */
export const CATALOG_TABLE = 'catalog';

/** Counts of catalog rows that were not used, logged as warnings. */
export interface CatalogLoad {
  items: number;
  rowsWithoutKey: number;
  duplicateKeys: number;
}

/** DuckDB's default maximum_object_size (16 MiB), the floor for item-map files. */
const MIN_OBJECT_BYTES = 16 * 1024 ** 2;

/**
 * Loads the catalog into CATALOG_TABLE. When an item occurs more than once, the first
 * row in file order wins; rows without an item key are skipped. Both are counted and
 * logged. Events of items that are not in the catalog get the missing value for the
 * catalog features.
 */
export async function loadCatalog(
  session: DuckDBSession,
  catalog: CatalogSource,
  files: readonly SourceFile[],
  plan: ColumnPlan,
  logger: Logger,
): Promise<CatalogLoad> {
  const columns = plan.catalogColumns.map((need, k) => `c_${k} ${need.shape === 'list' ? 'VARCHAR[]' : 'VARCHAR'}`);
  await session.run(
    `CREATE TEMP TABLE catalog_rows (file_index INTEGER, record BIGINT, item_key VARCHAR${columns.map((column) => `, ${column}`).join('')})`,
  );

  const readable = await skipEmptyFiles(session, files, logger);
  for (const file of readable) {
    if (catalog.kind === 'rows') await insertRowCatalogFile(session, catalog, file, plan);
    else await insertItemMapFile(session, catalog, file, plan);
  }

  const counts = await session.row(
    `SELECT count(*) FILTER (WHERE item_key IS NULL) AS without_key, ` +
      `count(item_key) - count(DISTINCT item_key) AS duplicates FROM catalog_rows`,
  );
  await session.run(
    `CREATE TABLE ${CATALOG_TABLE} AS SELECT * EXCLUDE (file_index, record, occurrence) FROM (` +
      `SELECT *, row_number() OVER (PARTITION BY item_key ORDER BY file_index, record) AS occurrence ` +
      `FROM catalog_rows WHERE item_key IS NOT NULL) WHERE occurrence = 1`,
  );
  await session.run('DROP TABLE catalog_rows');

  const items = Number((await session.row(`SELECT count(*) AS n FROM ${CATALOG_TABLE}`)).n);
  const load = { items, rowsWithoutKey: Number(counts.without_key), duplicateKeys: Number(counts.duplicates) };
  await logCatalogProblems(session, files, load, logger);
  return load;
}

/**
 * Returns the catalog files that have content, logging each empty one. Raises when
 * every file is empty, because the catalog features of every event would be missing.
 */
async function skipEmptyFiles(session: DuckDBSession, files: readonly SourceFile[], logger: Logger): Promise<SourceFile[]> {
  const readable: SourceFile[] = [];
  for (const file of files) {
    if (await isEmptyFile(session, file)) logger.warn({ file: file.relativePath }, 'catalog file is empty; it contributes no items');
    else readable.push(file);
  }
  if (readable.length === 0) {
    const names = files.map((file) => file.relativePath).join(', ');
    throw new Error(
      `the catalog is empty: ${names} ${files.length === 1 ? 'has' : 'have'} no content (catalog.path). ` +
        'Write the catalog again (an interrupted export or generator leaves it empty), or point catalog.path at another file',
    );
  }
  return readable;
}

async function insertRowCatalogFile(session: DuckDBSession, catalog: RowCatalog, file: SourceFile, plan: ColumnPlan): Promise<void> {
  const reader = await openFileReader(session, [file], catalog.format, catalog.csv);
  const needed = [catalog.itemKey, ...plan.catalogColumns.map((need) => need.column)];
  for (const column of needed) {
    if (!reader.columns.includes(column)) {
      const field = column === catalog.itemKey ? 'catalog.itemKey' : `a catalog feature's "column"`;
      throw new Error(
        `catalog file ${file.relativePath} has no column "${column}" (${field}); its columns are: ${reader.columns.join(', ') || '(none)'}; ` +
          'fix the column name, or the catalog csv options if the column list looks wrong',
      );
    }
  }

  const values = plan.catalogColumns.map((need) => `, ${reader.column(need.column, need.shape)}`).join('');
  await session.run(
    `INSERT INTO catalog_rows SELECT ${reader.fileIndex}, ${reader.record}, nullif(${reader.column(catalog.itemKey, 'text')}, '')${values} ` +
      `FROM ${reader.from('load', true)}${reader.skipRow === null ? '' : ` WHERE NOT ${reader.skipRow}`}`,
  );
}

async function insertItemMapFile(session: DuckDBSession, catalog: ItemMapCatalog, file: SourceFile, plan: ColumnPlan): Promise<void> {
  for (const need of plan.catalogColumns) {
    if (need.column !== catalog.valueColumn) {
      throw new Error(
        `a feature reads catalog column "${need.column}", but the item-map catalog ${file.relativePath} has only "${catalog.valueColumn}" ` +
          '(catalog.valueColumn); read that column',
      );
    }
    if (need.shape !== 'list') {
      throw new Error(
        `catalog column "${need.column}" of ${file.relativePath} contains a list of values per item; ` +
          'read it with a feature of kind "multi" and no "delimiter"',
      );
    }
  }

  const maximumObjectSize = Math.max(MIN_OBJECT_BYTES, (await uncompressedSize(file)) + 1024);
  const objects = `read_json_objects(${sqlString(file.absolutePath)}, format = 'unstructured', maximum_object_size = ${maximumObjectSize})`;
  const values = `(CASE WHEN json_type(entry.value) = 'ARRAY' THEN from_json(entry.value, '["VARCHAR"]') ELSE [json_extract_string(entry.value, '$')] END)`;
  const columns = plan.catalogColumns.map(() => `, ${values}`).join('');
  try {
    await session.run(
      `INSERT INTO catalog_rows SELECT ${file.index}, row_number() OVER (), entry.key${columns} ` +
        `FROM (SELECT unnest(map_entries(from_json(json, '"MAP(VARCHAR, JSON)"'))) AS entry FROM ${objects})`,
    );
  } catch (error) {
    throw new Error(
      `could not read catalog file ${file.relativePath} as one JSON object {"<item id>": [values...]}: ${firstLine(error)}; ` +
        'check catalog.kind and catalog.path',
      { cause: error },
    );
  }
}

/**
 * Returns the size of a file's content after decompression: a gzip file stores it
 * (modulo 2^32) in its last 4 bytes. DuckDB needs the size of the largest JSON object
 * in advance, and the item map is one object as large as the file.
 */
async function uncompressedSize(file: SourceFile): Promise<number> {
  if (!file.relativePath.endsWith('.gz') || file.size < 18) return file.size;
  const handle = await open(file.absolutePath, 'r');
  try {
    const trailer = Buffer.alloc(4);
    await handle.read(trailer, 0, 4, file.size - 4);
    return trailer.readUInt32LE(0);
  } finally {
    await handle.close();
  }
}

async function logCatalogProblems(session: DuckDBSession, files: readonly SourceFile[], load: CatalogLoad, logger: Logger): Promise<void> {
  const paths = files.map((file) => sqlString(file.absolutePath)).join(', ');
  const broken = (await session.tableExists(READER_REJECTS_TABLE))
    ? await session.rows(
        `SELECT s.file_path AS file, e.line AS line, min(e.error_type) AS error FROM ${READER_REJECTS_TABLE} e ` +
          `JOIN ${READER_SCANS_TABLE} s USING (scan_id, file_id) WHERE s.file_path IN (${paths}) GROUP BY ALL ORDER BY file, line`,
      )
    : [];

  if (broken.length > 0) {
    logger.warn(
      { brokenLines: broken.length, first: broken.slice(0, 3).map((row) => `${String(row.file)}:${String(row.line)} ${String(row.error)}`) },
      'catalog lines could not be parsed and were skipped',
    );
  }
  if (load.rowsWithoutKey > 0) logger.warn({ rows: load.rowsWithoutKey }, 'catalog rows without an item key were skipped');
  if (load.duplicateKeys > 0) logger.warn({ rows: load.duplicateKeys }, 'catalog rows repeat an item key; the first row of each item is used');
  logger.info({ items: load.items }, 'catalog loaded');
}
