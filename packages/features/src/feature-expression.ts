import { MISSING_VALUE, type FeatureConfig } from '@mcm/schema';
import { sqlString } from './sql.ts';

const MISSING = sqlString(MISSING_VALUE);

/**
 * Builds the SQL expression of a feature's raw value from its input column `input`:
 * VARCHAR for a single-valued feature, VARCHAR[] for a multi-valued one. A missing or
 * empty value becomes MISSING_VALUE, so the event keeps its place in the sequence, and
 * a multi-valued feature always has at least one value.
 *
 * A path level takes the path up to and including that level, e.g. level 1 of
 * `electronics.smartphone.case` is `electronics.smartphone`, because level names repeat
 * under different parents (`accessories` under several product lines).
 */
export function featureExpression(feature: FeatureConfig, input: string): string {
  if (feature.kind === 'multi') return multiValueExpression(feature, input);
  if (feature.pathLevel !== null) return pathLevelExpression(input, feature.pathLevel, feature.pathDelimiter!);
  return `coalesce(nullif(CAST(${input} AS VARCHAR), ''), ${MISSING})`;
}

function pathLevelExpression(input: string, level: number, delimiter: string): string {
  const parts = `string_split(nullif(CAST(${input} AS VARCHAR), ''), ${sqlString(delimiter)})`;
  // DuckDB lists are 1-based: level L is element L + 1.
  const segment = `${parts}[${level + 1}]`;
  return (
    `(CASE WHEN len(${parts}) > ${level} AND ${segment} <> '' ` +
    `THEN array_to_string(${parts}[1:${level + 1}], ${sqlString(delimiter)}) ELSE ${MISSING} END)`
  );
}

function multiValueExpression(feature: FeatureConfig, input: string): string {
  const values =
    feature.delimiter === null
      ? `list_transform(${input}, lambda value: CAST(value AS VARCHAR))`
      : `string_split(CAST(${input} AS VARCHAR), ${sqlString(feature.delimiter)})`;
  const present = `list_filter(${values}, lambda value: value IS NOT NULL AND value <> '')`;
  return `(CASE WHEN len(${present}) > 0 THEN ${present} ELSE [${MISSING}] END)`;
}
