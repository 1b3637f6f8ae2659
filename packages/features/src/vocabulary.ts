import { join } from 'node:path';
import { writeJsonAtomic } from '@mcm/common';
import { FIRST_VALUE_ID, OOV_ID, OOV_VALUE, PAD_VALUE, SPLIT_TRAIN, type FeatureConfig } from '@mcm/schema';
import type { DuckDBSession } from './duckdb-session.ts';
import { SEQUENCED_TABLE } from './sequences.ts';

/**
 * Builds the vocabulary of feature `index` from the training-period events of
 * SEQUENCED_TABLE into table `vocab_<index>` (value, id) and writes
 * `<outDir>/vocab/<name>.json`: the value of each id, with `<pad>` at 0 and `<oov>` at 1.
 *
 * Values get ids from FIRST_VALUE_ID on by descending training frequency, ties broken
 * by value (byte order), so the same input always gives the same ids. Values seen
 * fewer than minCount times, beyond maxSize, or only after the training cut-off have
 * no id and map to OOV_ID. Returns the vocabulary size including `<pad>` and `<oov>`.
 */
export async function buildVocabulary(session: DuckDBSession, feature: FeatureConfig, index: number, outDir: string): Promise<number> {
  const values = feature.kind === 'multi' ? `unnest(f_${index})` : `f_${index}`;
  const counts =
    `SELECT value, count(*) AS n FROM (SELECT ${values} AS value FROM ${SEQUENCED_TABLE} WHERE split = ${SPLIT_TRAIN}) ` +
    `GROUP BY value HAVING count(*) >= ${feature.vocabulary.minCount}`;
  const limit = feature.vocabulary.maxSize === null ? '' : ` QUALIFY id < ${feature.vocabulary.maxSize}`;
  await session.run(
    `CREATE TABLE vocab_${index} AS SELECT value, CAST(row_number() OVER (ORDER BY n DESC, value) + ${FIRST_VALUE_ID - 1} AS INTEGER) AS id ` +
      `FROM (${counts})${limit}`,
  );

  const rows = await session.rows(`SELECT value FROM vocab_${index} ORDER BY id`);
  const vocabulary = [PAD_VALUE, OOV_VALUE, ...rows.map((row) => String(row.value))];
  await writeJsonAtomic(join(outDir, 'vocab', `${feature.name}.json`), vocabulary);
  return vocabulary.length;
}

/**
 * SQL of feature `index`'s vocabulary ids for the final shard query, joined from
 * `sequenced s`: an INTEGER for a single-valued feature, an INTEGER[] for a
 * multi-valued one. Returns the select expression and the join it needs.
 */
export async function vocabularyIdColumn(
  session: DuckDBSession,
  feature: FeatureConfig,
  index: number,
): Promise<{ select: string; join: string }> {
  if (feature.kind === 'single') {
    return {
      select: `coalesce(v_${index}.id, ${OOV_ID}) AS f_${index}`,
      join: `LEFT JOIN vocab_${index} v_${index} ON s.f_${index} = v_${index}.value`,
    };
  }

  // Map each distinct value list once, keeping the order of its values, then join the
  // lists back: far fewer lists than events (they usually come from the catalog).
  await session.run(
    `CREATE TABLE ids_${index} AS SELECT raw, list(coalesce(v.id, ${OOV_ID}) ORDER BY position) AS ids FROM (` +
      `SELECT raw, unnest(raw) AS value, generate_subscripts(raw, 1) AS position FROM (SELECT DISTINCT f_${index} AS raw FROM ${SEQUENCED_TABLE})` +
      `) LEFT JOIN vocab_${index} v USING (value) GROUP BY raw`,
  );
  return {
    select: `m_${index}.ids AS f_${index}`,
    join: `LEFT JOIN ids_${index} m_${index} ON s.f_${index} = m_${index}.raw`,
  };
}
