import type { TimeMapping } from '@mcm/schema';
import { sqlString } from './sql.ts';

/** DuckDB types whose values are points in time already. */
const TEMPORAL_TYPE = /^(TIMESTAMP|DATE)/;
/** DuckDB types whose values are numbers. */
const NUMERIC_TYPE = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL)/;

/**
 * Builds the SQL expression that turns a source's time column into epoch milliseconds
 * (a DOUBLE), or into the event's position for order-only data. The expression is
 * NULL when the value is missing or cannot be parsed, which the ingest rejects as
 * `unparseable-timestamp`.
 *
 * `value` and `valueType` are the SQL and the DuckDB type of the time column;
 * `plusMilliseconds` is the SQL of the optional offset column.
 */
export function timeExpression(mapping: TimeMapping, value: string, valueType: string, plusMilliseconds: string | null): string {
  const base = baseTimeExpression(mapping, value, valueType);
  const withOffset = plusMilliseconds === null ? base : `(${base} + TRY_CAST(${plusMilliseconds} AS DOUBLE))`;

  // 'inf' and 'nan' parse as doubles but are no point in time.
  return `(CASE WHEN isfinite(${withOffset}) THEN ${withOffset} END)`;
}

function baseTimeExpression(mapping: TimeMapping, value: string, valueType: string): string {
  if (TEMPORAL_TYPE.test(valueType)) return `CAST(epoch_ms(${value}) AS DOUBLE)`;

  const number = NUMERIC_TYPE.test(valueType) ? `CAST(${value} AS DOUBLE)` : `TRY_CAST(${value} AS DOUBLE)`;
  switch (mapping.format) {
    case 'epoch-seconds':
      return `(${number} * 1000)`;
    case 'epoch-milliseconds':
    case 'order':
      return number;
    case 'iso':
      return `CAST(epoch_ms(TRY_CAST(${value} AS TIMESTAMPTZ)) AS DOUBLE)`;
    case 'strptime':
      return `CAST(epoch_ms(try_strptime(CAST(${value} AS VARCHAR), ${sqlString(mapping.pattern)})) AS DOUBLE)`;
  }
}
