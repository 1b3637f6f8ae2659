import type { DatasetConfig, FilterConfig } from '@mcm/schema';
import type { ColumnPlan } from './column-plan.ts';
import type { DuckDBSession } from './duckdb-session.ts';
import { RAW_EVENTS_TABLE } from './event-loader.ts';
import { splitExpression, type SplitCutoffs } from './split.ts';

/**
 * One row per valid customer: `customer`, `customer_code` (1, 2, ... in byte order of
 * the id, so sorting by code sorts by id) and `shard`.
 */
export const CUSTOMERS_TABLE = 'customers';

/**
 * Valid events without duplicates, numbered per customer: customer_code, shard,
 * time_ms, tie, item, event_type, e_<k>, `position` (1 for the customer's first event)
 * and `length` (the customer's events).
 */
export const ORDERED_TABLE = 'ordered';

/**
 * A view of the events kept for the shards: ORDERED_TABLE's columns plus `from_end`
 * (1 for a customer's most recent event), `first_event` and `split`, at most maxLength
 * per customer. A view, because copying every kept event costs more than the filter
 * each reader repeats.
 */
export const SEQUENCED_TABLE = 'sequenced';

/**
 * Numbers each customer's events by time and drops exact duplicates and the events the
 * frequency filter removes. Events of one time are ordered by `tie`, a hash of the
 * source row, which carries no signal about the event. Two rows of a customer with the
 * same time and row hash are duplicates.
 *
 * The shard is the first 8 bytes of the md5 digest of the customer id, read as a
 * little-endian unsigned integer (DuckDB's md5_number_upper), modulo the number of
 * shards. Returns the duplicates and filtered events dropped.
 */
export async function buildOrderedEvents(
  session: DuckDBSession,
  config: DatasetConfig,
  plan: ColumnPlan,
): Promise<{ duplicateRows: number; filteredEvents: number }> {
  await session.run(
    `CREATE TABLE ${CUSTOMERS_TABLE} AS SELECT customer, ` +
      `CAST(row_number() OVER (ORDER BY customer) AS INTEGER) AS customer_code, ` +
      `CAST(md5_number_upper(customer) % ${config.shards} AS INTEGER) AS shard ` +
      `FROM (SELECT DISTINCT customer FROM ${RAW_EVENTS_TABLE} WHERE reason IS NULL)`,
  );

  // One sort of narrow rows numbers the events. rank() equals row_number() except on
  // a repeat of the previous row's time and hash, which is how duplicates show.
  const payload = ['e.time_ms', 'e.tie', 'e.item', 'e.event_type', ...plan.eventColumns.map((_, k) => `e.e_${k}`)];
  await session.run(
    `CREATE TABLE numbered AS SELECT c.customer_code, c.shard, ${payload.join(', ')}, ` +
      `row_number() OVER numbering AS position, rank() OVER numbering AS key_rank, ` +
      `count(*) OVER (PARTITION BY c.customer_code) AS length ` +
      `FROM ${RAW_EVENTS_TABLE} e JOIN ${CUSTOMERS_TABLE} c USING (customer) WHERE e.reason IS NULL ` +
      'WINDOW numbering AS (PARTITION BY c.customer_code ORDER BY e.time_ms, e.tie)',
  );
  const duplicateRows = Number((await session.row('SELECT count(*) AS n FROM numbered WHERE position > key_rank')).n);
  // Every later step reads `numbered`, so the source rows can go and free their memory.
  await session.run(`DROP TABLE ${RAW_EVENTS_TABLE}`);

  if (duplicateRows === 0 && config.filter === null) {
    await session.run('ALTER TABLE numbered DROP COLUMN key_rank');
    await session.run(`ALTER TABLE numbered RENAME TO ${ORDERED_TABLE}`);
    return { duplicateRows, filteredEvents: 0 };
  }

  await session.run('DELETE FROM numbered WHERE position > key_rank');
  const filteredEvents = await applyFrequencyFilter(session, config.filter);
  await session.run(
    `CREATE TABLE ${ORDERED_TABLE} AS SELECT * EXCLUDE (position, key_rank, length), ` +
      `row_number() OVER numbering AS position, count(*) OVER (PARTITION BY customer_code) AS length ` +
      'FROM numbered WINDOW numbering AS (PARTITION BY customer_code ORDER BY time_ms, tie)',
  );
  await session.run('DROP TABLE numbered');
  return { duplicateRows, filteredEvents };
}

/**
 * Applies the item-then-customer frequency filter to the `numbered` table once, in that
 * order: first items with fewer than minItemEvents events go, then customers with fewer
 * than minCustomerEvents of the remaining events. Returns the events dropped.
 */
async function applyFrequencyFilter(session: DuckDBSession, filter: FilterConfig | null): Promise<number> {
  if (filter === null) return 0;
  const before = await countRows(session, 'numbered');
  await session.run(`DELETE FROM numbered WHERE item IN (SELECT item FROM numbered GROUP BY item HAVING count(*) < ${filter.minItemEvents})`);
  await session.run(
    `DELETE FROM numbered WHERE customer_code IN ` +
      `(SELECT customer_code FROM numbered GROUP BY customer_code HAVING count(*) < ${filter.minCustomerEvents})`,
  );
  return before - (await countRows(session, 'numbered'));
}

/** Returns the first and last event time of ORDERED_TABLE, or null when it is empty. */
export async function eventTimeRange(session: DuckDBSession): Promise<{ first: number; last: number } | null> {
  const row = await session.row(`SELECT min(time_ms) AS first, max(time_ms) AS last FROM ${ORDERED_TABLE}`);
  if (row.first === null || row.last === null) return null;
  return { first: Number(row.first), last: Number(row.last) };
}

/**
 * Keeps each customer's maxLength most recent events and labels their split.
 * Returns the events dropped by truncation.
 */
export async function buildSequencedTable(session: DuckDBSession, config: DatasetConfig, cutoffs: SplitCutoffs): Promise<number> {
  await session.run(
    `CREATE VIEW ${SEQUENCED_TABLE} AS SELECT *, from_end = least(length, ${config.maxLength}) AS first_event, ` +
      `${splitExpression(config.split, cutoffs)} AS split ` +
      `FROM (SELECT *, length - position + 1 AS from_end FROM ${ORDERED_TABLE}) ` +
      `WHERE from_end <= ${config.maxLength}`,
  );
  const truncated = await session.row(`SELECT count(*) AS n FROM ${ORDERED_TABLE} WHERE length - position + 1 > ${config.maxLength}`);
  return Number(truncated.n);
}

/**
 * One row per customer with kept events: customer_code, shard, customer, `kept` (its
 * event count) and `event_offset` (its first event's index in the shard, where
 * customers follow in ascending byte order of their id).
 */
export const KEPT_CUSTOMERS_TABLE = 'kept_customers';

/** Lays out the customers of each shard: their order, event counts and offsets. */
export async function buildKeptCustomersTable(session: DuckDBSession, config: DatasetConfig): Promise<void> {
  await session.run(
    `CREATE TABLE ${KEPT_CUSTOMERS_TABLE} AS SELECT customer_code, shard, customer, kept, ` +
      `CAST(sum(kept) OVER (PARTITION BY shard ORDER BY customer_code ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - kept AS BIGINT) AS event_offset ` +
      `FROM (SELECT customer_code, CAST(least(max(length), ${config.maxLength}) AS BIGINT) AS kept FROM ${ORDERED_TABLE} GROUP BY customer_code) ` +
      `JOIN ${CUSTOMERS_TABLE} USING (customer_code)`,
  );
}

/** Drops the per-event tables once the shard events are built, so that their memory is free for the shards. */
export async function dropSequences(session: DuckDBSession): Promise<void> {
  await session.run(`DROP VIEW ${SEQUENCED_TABLE}`);
  await session.run(`DROP TABLE ${ORDERED_TABLE}`);
}

export async function countRows(session: DuckDBSession, table: string): Promise<number> {
  return Number((await session.row(`SELECT count(*) AS n FROM ${table}`)).n);
}
