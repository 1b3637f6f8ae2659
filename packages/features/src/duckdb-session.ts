import { mkdir, rm } from 'node:fs/promises';
import { DuckDBInstance, type DuckDBConnection, type JS } from '@duckdb/node-api';
import type { Logger } from '@mcm/common';

/** Resources of one ingest's DuckDB database. */
export interface DuckDBSessionOptions {
  /** DuckDB memory_limit, e.g. "1GB"; DuckDB spills to `temporaryDirectory` beyond it. */
  memoryLimit: string;
  /** Worker threads of DuckDB. */
  threads: number;
  /** Spill directory; created on open and removed on close. */
  temporaryDirectory: string;
  /** Receives the duration of each statement at debug level. */
  logger?: Logger;
}

/**
 * An in-memory DuckDB database for one ingest. Tables larger than the memory limit
 * spill to the temporary directory, so memory stays bounded by the limit, not by the
 * input size.
 */
export class DuckDBSession {
  private closed = false;

  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
    private readonly temporaryDirectory: string,
    private readonly logger: Logger | undefined,
  ) {}

  static async open(options: DuckDBSessionOptions): Promise<DuckDBSession> {
    await mkdir(options.temporaryDirectory, { recursive: true });
    const instance = await DuckDBInstance.create(':memory:', {
      memory_limit: options.memoryLimit,
      threads: String(options.threads),
      temp_directory: options.temporaryDirectory,
    });
    const connection = await instance.connect();

    // Strings without a zone are UTC on every machine, and query progress is tracked
    // (for the progress bar) without DuckDB printing its own.
    await connection.run(`SET TimeZone = 'UTC'`);
    await connection.run('SET enable_progress_bar = true');
    await connection.run('SET enable_progress_bar_print = false');
    await connection.run('SET preserve_insertion_order = true');
    return new DuckDBSession(instance, connection, options.temporaryDirectory, options.logger);
  }

  /** Runs a statement that returns nothing of interest. */
  async run(sql: string): Promise<void> {
    const start = performance.now();
    await this.connection.run(sql);
    this.logger?.debug({ milliseconds: Math.round(performance.now() - start), sql: sql.slice(0, 160) }, 'statement finished');
  }

  /** Runs a query and returns its rows as plain JS objects (BIGINT as bigint). */
  async rows(sql: string): Promise<Record<string, JS>[]> {
    const reader = await this.connection.runAndReadAll(sql);
    return reader.getRowObjectsJS();
  }

  /** Runs a query that returns one row and returns it. */
  async row(sql: string): Promise<Record<string, JS>> {
    const rows = await this.rows(sql);
    if (rows.length !== 1) throw new Error(`expected one row from the query, got ${rows.length}: ${sql.slice(0, 200)}`);
    return rows[0]!;
  }

  /** Runs `sql` while calling `onProgress` with DuckDB's estimate of the percentage done. */
  async runWithProgress(sql: string, onProgress: (percent: number) => void, intervalMs = 500): Promise<void> {
    const timer = setInterval(() => {
      const progress = this.connection.progress;
      if (progress.percentage >= 0) onProgress(progress.percentage);
    }, intervalMs);
    try {
      await this.run(sql);
    } finally {
      clearInterval(timer);
    }
  }

  /** Returns whether a table (temporary or not) of that name exists. */
  async tableExists(name: string): Promise<boolean> {
    const reader = await this.connection.runAndReadAll(`SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = $name`, { name });
    return Number(reader.getRowObjectsJS()[0]!.n) > 0;
  }

  /** Describes the columns that `relation` (a table function call or subquery) produces. */
  async describe(relation: string): Promise<Array<{ name: string; type: string }>> {
    const rows = await this.rows(`DESCRIBE SELECT * FROM ${relation}`);
    return rows.map((row) => ({ name: String(row.column_name), type: String(row.column_type) }));
  }

  /** Closes the database and removes its spill directory; safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connection.closeSync();
    this.instance.closeSync();
    await rm(this.temporaryDirectory, { recursive: true, force: true });
  }
}
