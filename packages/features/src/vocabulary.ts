import { join } from 'node:path';
import { writeJsonAtomic } from '@mcm/common';
import { FIRST_VALUE_ID, OOV_ID, OOV_VALUE, PAD_VALUE, SPLIT_TRAIN, type DatasetConfig, type FeatureConfig } from '@mcm/schema';
import { CATALOG_TABLE } from './catalog-loader.ts';
import type { ColumnPlan } from './column-plan.ts';
import type { DuckDBSession } from './duckdb-session.ts';
import { featureExpression } from './feature-expression.ts';
import { SEQUENCED_TABLE } from './sequences.ts';

/**
 * The SQL that the shard query needs for the vocabulary ids: one select expression per
 * feature (named f_<i>, INTEGER or INTEGER[]) over `sequenced s`, and the joins they use.
 */
export interface FeatureIdColumns {
  selects: string[];
  joins: string[];
}

/**
 * Features whose value depends only on the item (the item id and catalog columns) are
 * derived once per item, not once per event, and counted through per-item counts.
 */
function isItemFeature(feature: FeatureConfig): boolean {
  return feature.from === 'item' || feature.from === 'catalog';
}

/**
 * Builds every feature's vocabulary from the training events of SEQUENCED_TABLE,
 * writes `<outDir>/vocab/<name>.json`, and returns the vocabulary sizes with the SQL
 * that maps each event to its ids.
 *
 * A vocabulary lists `<pad>` at id 0, `<oov>` at id 1, then the values by descending
 * training frequency, ties broken by value in byte order, so the same input always
 * gives the same ids. Values seen fewer than minCount times, beyond maxSize, or only
 * after the training cut-off have no id and map to OOV_ID.
 */
export async function buildVocabularies(
  session: DuckDBSession,
  config: DatasetConfig,
  plan: ColumnPlan,
  hasCatalog: boolean,
  outDir: string,
): Promise<{ sizes: number[]; columns: FeatureIdColumns }> {
  const itemFeatures = config.features.map((feature, index) => ({ feature, index })).filter(({ feature }) => isItemFeature(feature));
  if (itemFeatures.length > 0) await buildItemValues(session, itemFeatures, plan, hasCatalog);

  const sizes: number[] = [];
  const selects: string[] = [];
  const joins: string[] = [];
  const itemIdColumns: Array<{ select: string; join: string }> = [];

  for (const [index, feature] of config.features.entries()) {
    const eventValue = isItemFeature(feature) ? null : featureExpression(feature, `s.${plan.featureInputs[index]}`);
    await createVocabularyTable(session, feature, index, eventValue);
    sizes.push(await writeVocabularyFile(session, feature, index, outDir));

    if (eventValue === null) {
      itemIdColumns.push(await itemIdColumn(session, feature, index));
      selects.push(`ii.f_${index} AS f_${index}`);
    } else {
      const column = await eventIdColumn(session, feature, index, eventValue);
      selects.push(column.select);
      joins.push(column.join);
    }
  }

  if (itemIdColumns.length > 0) {
    await session.run(
      `CREATE TABLE item_ids AS SELECT v.item, ${itemIdColumns.map((column) => column.select).join(', ')} ` +
        `FROM item_values v ${itemIdColumns.map((column) => column.join).join(' ')}`,
    );
    joins.unshift('LEFT JOIN item_ids ii ON s.item IS NOT DISTINCT FROM ii.item');
  }
  return { sizes, columns: { selects, joins } };
}

/**
 * Creates `item_values`: every item of SEQUENCED_TABLE with the raw value f_<i> of each
 * item feature, and `train_item_counts`: the training events of each item.
 */
async function buildItemValues(
  session: DuckDBSession,
  itemFeatures: Array<{ feature: FeatureConfig; index: number }>,
  plan: ColumnPlan,
  hasCatalog: boolean,
): Promise<void> {
  const values = itemFeatures.map(({ feature, index }) => {
    const input = plan.featureInputs[index]!;
    return `${featureExpression(feature, input === 'item' ? 'i.item' : `${CATALOG_TABLE}.${input}`)} AS f_${index}`;
  });
  const catalogJoin = hasCatalog ? ` LEFT JOIN ${CATALOG_TABLE} ON i.item = ${CATALOG_TABLE}.item_key` : '';
  await session.run(`CREATE TABLE item_values AS SELECT i.item, ${values.join(', ')} FROM (SELECT DISTINCT item FROM ${SEQUENCED_TABLE}) i${catalogJoin}`);
  await session.run(`CREATE TABLE train_item_counts AS SELECT item, count(*) AS n FROM ${SEQUENCED_TABLE} WHERE split = ${SPLIT_TRAIN} GROUP BY item`);
}

/**
 * Creates `vocab_<index>` (value, id). An item feature counts its values through the
 * training events of each item; an event feature evaluates `eventValue` on each event.
 */
async function createVocabularyTable(session: DuckDBSession, feature: FeatureConfig, index: number, eventValue: string | null): Promise<void> {
  const multi = feature.kind === 'multi';
  const counts =
    eventValue === null
      ? `SELECT value, sum(n) AS n FROM (SELECT ${multi ? `unnest(v.f_${index})` : `v.f_${index}`} AS value, t.n ` +
        `FROM train_item_counts t JOIN item_values v ON t.item IS NOT DISTINCT FROM v.item) GROUP BY value`
      : `SELECT value, count(*) AS n FROM (SELECT ${multi ? `unnest(${eventValue})` : eventValue} AS value ` +
        `FROM ${SEQUENCED_TABLE} s WHERE s.split = ${SPLIT_TRAIN}) GROUP BY value`;
  const limit = feature.vocabulary.maxSize === null ? '' : ` QUALIFY id < ${feature.vocabulary.maxSize}`;
  await session.run(
    `CREATE TABLE vocab_${index} AS SELECT value, CAST(row_number() OVER (ORDER BY n DESC, value) + ${FIRST_VALUE_ID - 1} AS INTEGER) AS id ` +
      `FROM (${counts}) WHERE n >= ${feature.vocabulary.minCount}${limit}`,
  );
}

/** Writes `<outDir>/vocab/<name>.json` and returns the vocabulary size including `<pad>` and `<oov>`. */
async function writeVocabularyFile(session: DuckDBSession, feature: FeatureConfig, index: number, outDir: string): Promise<number> {
  const rows = await session.rows(`SELECT value FROM vocab_${index} ORDER BY id`);
  const vocabulary = [PAD_VALUE, OOV_VALUE, ...rows.map((row) => String(row.value))];
  await writeJsonAtomic(join(outDir, 'vocab', `${feature.name}.json`), vocabulary);
  return vocabulary.length;
}

/** Builds the id column of an item feature inside `item_ids`, over `item_values v`. */
async function itemIdColumn(session: DuckDBSession, feature: FeatureConfig, index: number): Promise<{ select: string; join: string }> {
  if (feature.kind === 'single') {
    return {
      select: `coalesce(vocab_${index}.id, ${OOV_ID}) AS f_${index}`,
      join: `LEFT JOIN vocab_${index} ON v.f_${index} = vocab_${index}.value`,
    };
  }
  await session.run(
    `CREATE TABLE item_ids_${index} AS SELECT item, list(coalesce(b.id, ${OOV_ID}) ORDER BY position) AS ids FROM (` +
      `SELECT item, unnest(f_${index}) AS value, generate_subscripts(f_${index}, 1) AS position FROM item_values` +
      `) LEFT JOIN vocab_${index} b USING (value) GROUP BY item`,
  );
  return {
    select: `m_${index}.ids AS f_${index}`,
    join: `LEFT JOIN item_ids_${index} m_${index} ON v.item IS NOT DISTINCT FROM m_${index}.item`,
  };
}

/** Builds the id column of an event feature in the shard query, over `sequenced s`. */
async function eventIdColumn(
  session: DuckDBSession,
  feature: FeatureConfig,
  index: number,
  eventValue: string,
): Promise<{ select: string; join: string }> {
  if (feature.kind === 'single') {
    return {
      select: `coalesce(v_${index}.id, ${OOV_ID}) AS f_${index}`,
      join: `LEFT JOIN vocab_${index} v_${index} ON ${eventValue} = v_${index}.value`,
    };
  }

  // Map each distinct value list once, keeping the order of its values.
  await session.run(
    `CREATE TABLE event_ids_${index} AS SELECT raw, list(coalesce(b.id, ${OOV_ID}) ORDER BY position) AS ids FROM (` +
      `SELECT raw, unnest(raw) AS value, generate_subscripts(raw, 1) AS position FROM (SELECT DISTINCT ${eventValue} AS raw FROM ${SEQUENCED_TABLE} s)` +
      `) LEFT JOIN vocab_${index} b USING (value) GROUP BY raw`,
  );
  return {
    select: `m_${index}.ids AS f_${index}`,
    join: `LEFT JOIN event_ids_${index} m_${index} ON ${eventValue} = m_${index}.raw`,
  };
}
