import type { DatasetConfig, FilterConfig } from '@mcm/schema';
import { CATALOG_TABLE } from './catalog-loader.ts';
import type { ColumnPlan } from './column-plan.ts';
import type { DuckDBSession } from './duckdb-session.ts';
import { RAW_EVENTS_TABLE } from './event-loader.ts';
import { featureExpression } from './feature-expression.ts';
import { splitExpression, type SplitCutoffs } from './split.ts';

/** Valid, distinct events with each feature's raw value f_<i>: customer, time_ms, tie, item, f_0, f_1, ... */
export const EVENTS_TABLE = 'events';

/**
 * The events kept for the shards: EVENTS_TABLE plus `from_end` (1 for a customer's
 * most recent event), `first_event`, `split` and `shard`, at most maxLength per customer.
 */
export const SEQUENCED_TABLE = 'sequenced';

/** Counts of the events that each step dropped. */
export interface SequenceCounts {
  duplicateRows: number;
  filteredEvents: number;
  truncatedEvents: number;
}

/**
 * Builds EVENTS_TABLE from the valid rows of RAW_EVENTS_TABLE: exact duplicates
 * (same source row content, customer and time) are dropped, the catalog is joined on
 * the item, and every feature's raw value is derived. Returns the duplicates dropped.
 */
export async function buildEventsTable(session: DuckDBSession, config: DatasetConfig, plan: ColumnPlan, hasCatalog: boolean): Promise<number> {
  const eventColumns = plan.eventColumns.map((_, k) => `e_${k}`);
  const distinct = `SELECT DISTINCT ${['customer', 'time_ms', 'tie', 'event_type', 'item', ...eventColumns].join(', ')} FROM ${RAW_EVENTS_TABLE} WHERE reason IS NULL`;
  const join = hasCatalog ? ` LEFT JOIN ${CATALOG_TABLE} ON d.item = ${CATALOG_TABLE}.item_key` : '';
  const features = config.features.map((feature, i) => `${featureExpression(feature, plan.featureInputs[i]!)} AS f_${i}`);

  await session.run(`CREATE TABLE ${EVENTS_TABLE} AS SELECT d.customer, d.time_ms, d.tie, d.item, ${features.join(', ')} FROM (${distinct}) d${join}`);

  const valid = Number((await session.row(`SELECT count(*) AS n FROM ${RAW_EVENTS_TABLE} WHERE reason IS NULL`)).n);
  return valid - (await countRows(session, EVENTS_TABLE));
}

/**
 * Applies the item-then-customer frequency filter once, in that order: first items
 * with fewer than minItemEvents events go, then customers with fewer than
 * minCustomerEvents of the remaining events. Returns the events dropped.
 */
export async function applyFrequencyFilter(session: DuckDBSession, filter: FilterConfig | null): Promise<number> {
  if (filter === null) return 0;
  const before = await countRows(session, EVENTS_TABLE);
  await session.run(
    `DELETE FROM ${EVENTS_TABLE} WHERE item IN (SELECT item FROM ${EVENTS_TABLE} GROUP BY item HAVING count(*) < ${filter.minItemEvents})`,
  );
  await session.run(
    `DELETE FROM ${EVENTS_TABLE} WHERE customer IN ` +
      `(SELECT customer FROM ${EVENTS_TABLE} GROUP BY customer HAVING count(*) < ${filter.minCustomerEvents})`,
  );
  return before - (await countRows(session, EVENTS_TABLE));
}

/** Returns the first and last event time of EVENTS_TABLE, or null when it is empty. */
export async function eventTimeRange(session: DuckDBSession): Promise<{ first: number; last: number } | null> {
  const row = await session.row(`SELECT min(time_ms) AS first, max(time_ms) AS last FROM ${EVENTS_TABLE}`);
  if (row.first === null || row.last === null) return null;
  return { first: Number(row.first), last: Number(row.last) };
}

/**
 * Orders each customer's events, keeps the most recent maxLength, and labels each
 * event's split and shard. Events of one time are ordered by `tie`, a hash of the
 * source row, which carries no signal about the event. The shard is the first 8 bytes
 * of the md5 digest of the customer id, read as a little-endian unsigned integer
 * (DuckDB's md5_number_upper), modulo the number of shards. Returns the events
 * dropped by truncation.
 */
export async function buildSequencedTable(session: DuckDBSession, config: DatasetConfig, cutoffs: SplitCutoffs): Promise<number> {
  const ranked =
    `SELECT *, row_number() OVER (PARTITION BY customer ORDER BY time_ms DESC, tie DESC) AS from_end, ` +
    `count(*) OVER (PARTITION BY customer) AS length FROM ${EVENTS_TABLE}`;
  await session.run(
    `CREATE TABLE ${SEQUENCED_TABLE} AS SELECT * EXCLUDE (length), ` +
      `from_end = least(length, ${config.maxLength}) AS first_event, ` +
      `${splitExpression(config.split, cutoffs)} AS split, ` +
      `CAST(md5_number_upper(customer) % ${config.shards} AS INTEGER) AS shard ` +
      `FROM (${ranked}) WHERE from_end <= ${config.maxLength}`,
  );
  return (await countRows(session, EVENTS_TABLE)) - (await countRows(session, SEQUENCED_TABLE));
}

export async function countRows(session: DuckDBSession, table: string): Promise<number> {
  return Number((await session.row(`SELECT count(*) AS n FROM ${table}`)).n);
}
