import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@mcm/common';
import {
  CATALOG_TABLE,
  DuckDBSession,
  featureExpression,
  jsonPath,
  loadCatalog,
  planColumns,
  resolveSourceFiles,
  sqlString,
  sqlStringList,
  type ColumnPlan,
} from '@mcm/features';
import { FIRST_VALUE_ID, OOV_ID, readVocabulary, type DatasetConfig, type EventSource, type Manifest } from '@mcm/schema';

/** What a field of a raw request event feeds: the item, the event type, a feature's event column, or nothing (the time). */
export type EventFieldRole = 'item' | 'eventType' | 'eventColumn' | 'time';

/** One field a raw request event may carry, named as in the dataset config's first event source. */
export interface EventField {
  name: string;
  role: EventFieldRole;
  /** `list`: a JSON array of values (a multi-valued feature read without a delimiter); `text` otherwise. */
  shape: 'text' | 'list';
  required: boolean;
  /** The event types the dataset config allows, for the event type field. */
  allowed: readonly string[] | null;
}

/** Vocabulary ids of a sequence of raw events, one entry per model input feature. */
export interface MappedEvents {
  length: number;
  /** Feature name -> ids in (position, slot) order; width is 1 for single-valued features. */
  features: Record<string, { ids: Int32Array; width: number }>;
}

export interface RawEventMapperOptions {
  config: DatasetConfig;
  /** Names the dataset config in messages, usually its path. */
  configSource: string;
  /** Directory the catalog glob is relative to; needed only when a feature reads the catalog. */
  dataRoot: string | null;
  /** The ingest output the model was trained on: its manifest and vocabulary files. */
  dataDir: string;
  manifest: Manifest;
  logger: Logger;
  /** Distinct values of each event field whose ids are kept; default DEFAULT_CACHE_ENTRIES. */
  cacheEntries?: number;
}

/** DuckDB memory for the catalog table; a catalog of a million items fits in a few hundred MB. */
const MAPPER_MEMORY_LIMIT = '512MB';

/** Default bound of each input's cache of mapped values. */
export const DEFAULT_CACHE_ENTRIES = 100_000;

/**
 * The features whose raw value comes from one field of a raw event: the item (which
 * also selects the catalog row), the event type, or one event column. `field` is null
 * for a constant event type.
 */
interface InputGroup {
  field: string | null;
  /** Indices into the config's features. */
  features: number[];
  /** JSON text of the field's value -> the ids of `features`, in order (a list for a multi-valued feature). */
  cache: BoundedCache<Array<number | number[]>>;
}

/**
 * Maps raw events, as a client sends them in the dataset config's column names, to the
 * vocabulary ids the model was trained on. The raw value of each feature comes from the
 * ingest's own SQL (`featureExpression`, with the catalog joined on the item the same
 * way), and a value the training vocabulary lacks maps to out-of-vocabulary.
 *
 * Every feature reads exactly one field, so the ids of each distinct field value are
 * computed once by DuckDB and then cached: a DuckDB query costs milliseconds, a cache
 * hit microseconds. Queries share one connection and run one at a time.
 */
export class RawEventMapper {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly session: DuckDBSession,
    private readonly query: string,
    private readonly config: DatasetConfig,
    private readonly vocabularies: ReadonlyMap<string, ReadonlyMap<string, number>>,
    private readonly groups: readonly InputGroup[],
    readonly fields: readonly EventField[],
  ) {}

  /** Loads the catalog (when a feature reads it) and the vocabularies, and prepares the mapping query. */
  static async open(options: RawEventMapperOptions): Promise<RawEventMapper> {
    const { config, manifest } = options;
    assertConfigMatchesManifest(config, options.configSource, manifest);
    const plan = planColumns(config);
    const source = config.events[0]!;

    const session = await DuckDBSession.open({
      memoryLimit: MAPPER_MEMORY_LIMIT,
      threads: 1,
      temporaryDirectory: join(await mkdtemp(join(tmpdir(), 'mcm-serving-')), 'duckdb'),
    });
    try {
      if (plan.catalogColumns.length > 0) await loadCatalogTable(session, options, plan);

      const vocabularies = new Map<string, Map<string, number>>();
      for (const feature of config.features) {
        const values = await readVocabulary(options.dataDir, feature.name);
        const ids = new Map<string, number>();
        for (let id = FIRST_VALUE_ID; id < values.length; id++) ids.set(values[id]!, id);
        vocabularies.set(feature.name, ids);
      }

      const fields = eventFields(source, plan);
      const query = mappingQuery(config, source, plan, fields);
      const groups = inputGroups(source, plan, fields, options.cacheEntries ?? DEFAULT_CACHE_ENTRIES);
      return new RawEventMapper(session, query, config, vocabularies, groups, fields);
    } catch (error) {
      await session.close();
      throw error;
    }
  }

  /**
   * Maps `events` (oldest first, already validated against `fields`) to the ids of the
   * features in `featureNames`. Every event keeps its place, even one whose values are
   * all unknown.
   */
  async map(events: readonly Record<string, unknown>[], featureNames: readonly string[]): Promise<MappedEvents> {
    if (this.closed) throw new Error('the raw event mapper is closed');

    // Look every field value up in its cache; the misses are mapped by one query.
    const keys = this.groups.map((group) => events.map((event) => (group.field === null ? '' : JSON.stringify(event[group.field] ?? null))));
    const found = this.groups.map(() => new Map<string, Array<number | number[]>>());
    const misses: Array<{ group: number; key: string; value: unknown }> = [];
    this.groups.forEach((group, g) => {
      events.forEach((event, position) => {
        const key = keys[g]![position]!;
        if (found[g]!.has(key)) return;
        const cached = group.cache.get(key);
        if (cached !== undefined) {
          found[g]!.set(key, cached);
          return;
        }
        found[g]!.set(key, []);
        misses.push({ group: g, key, value: group.field === null ? undefined : (event[group.field] ?? null) });
      });
    });
    if (misses.length > 0) await this.resolve(misses, found);

    const features: MappedEvents['features'] = {};
    for (const name of featureNames) {
      const index = this.config.features.findIndex((feature) => feature.name === name);
      if (index < 0) throw new Error(`feature "${name}" is not in the dataset config; the model and the config do not match`);
      const g = this.groups.findIndex((group) => group.features.includes(index));
      const slot = this.groups[g]!.features.indexOf(index);
      const values = keys[g]!.map((key) => found[g]!.get(key)![slot]!);
      features[name] = this.config.features[index]!.kind === 'multi' ? packLists(values as number[][]) : { ids: Int32Array.from(values as number[]), width: 1 };
    }
    return { length: events.length, features };
  }

  /** Closes the DuckDB database; safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.session.close();
  }

  /** Maps the missed field values with one query, each as an event that carries only that field, and caches the ids. */
  private async resolve(
    misses: ReadonlyArray<{ group: number; key: string; value: unknown }>,
    found: Array<Map<string, Array<number | number[]>>>,
  ): Promise<void> {
    const probes = misses.map(({ group, value }) => {
      const field = this.groups[group]!.field;
      return field === null ? {} : { [field]: value };
    });
    const run = this.queue.then(() => this.session.connection.runAndReadAll(this.query, { events: JSON.stringify(probes) }));
    this.queue = run.catch(() => undefined);
    const rows = (await run).getRowObjectsJS();
    if (rows.length !== probes.length) {
      throw new Error(`mapping ${probes.length} values returned ${rows.length} rows; every value must keep its place`);
    }

    misses.forEach(({ group, key }, row) => {
      const inputGroup = this.groups[group]!;
      const ids = inputGroup.features.map((index) => {
        const feature = this.config.features[index]!;
        const vocabulary = this.vocabularies.get(feature.name)!;
        const raw = rows[row]![`f_${index}`];
        if (feature.kind === 'multi') return (Array.isArray(raw) ? raw : [raw]).map((value) => vocabulary.get(String(value)) ?? OOV_ID);
        return vocabulary.get(String(raw)) ?? OOV_ID;
      });
      inputGroup.cache.set(key, ids);
      found[group]!.set(key, ids);
    });
  }
}

/** Lays lists of ids out as [position, slot], padded with 0 to the longest list. */
function packLists(lists: readonly number[][]): { ids: Int32Array; width: number } {
  const width = Math.max(1, ...lists.map((list) => list.length));
  const ids = new Int32Array(lists.length * width);
  lists.forEach((list, position) => ids.set(list, position * width));
  return { ids, width };
}

/**
 * A map that keeps at most `capacity` entries and evicts the least recently used one,
 * so a client that sends ever new values cannot grow the server's memory.
 */
class BoundedCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly capacity: number) {}

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      // Re-inserting moves the key to the end of the Map's insertion order.
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }
}

/** Groups the features by the one event field their raw value comes from. */
function inputGroups(source: EventSource, plan: ColumnPlan, fields: readonly EventField[], cacheEntries: number): InputGroup[] {
  const item = fields.find((field) => field.role === 'item')!.name;
  const eventType = source.kind === 'rows' && source.eventType.column !== undefined ? source.eventType.column : null;
  const fieldOf = (input: string): string | null => {
    if (input === 'item' || input.startsWith('c_')) return item;
    if (input === 'event_type') return eventType;
    return plan.eventColumns[Number(input.slice('e_'.length))]!.column;
  };

  const groups = new Map<string | null, InputGroup>();
  plan.featureInputs.forEach((input, index) => {
    const field = fieldOf(input);
    let group = groups.get(field);
    if (group === undefined) {
      group = { field, features: [], cache: new BoundedCache(cacheEntries) };
      groups.set(field, group);
    }
    group.features.push(index);
  });
  return [...groups.values()];
}

/**
 * Lists the fields of a raw event: the first event source's item, event type and event
 * columns, plus its time columns.
 *
 * NOTE: a config with several event sources (a view log and a purchase log, say) that
 * name their columns differently accepts only the first source's names.
 */
function eventFields(source: EventSource, plan: ColumnPlan): EventField[] {
  if (source.kind === 'customer-sequences') {
    return [{ name: 'item', role: 'item', shape: 'text', required: true, allowed: null }];
  }

  const fields: EventField[] = [{ name: source.item, role: 'item', shape: 'text', required: true, allowed: null }];
  if (source.eventType.column !== undefined) {
    fields.push({ name: source.eventType.column, role: 'eventType', shape: 'text', required: true, allowed: source.eventType.allowed ?? null });
  }
  for (const need of plan.eventColumns) {
    if (fields.some((field) => field.name === need.column)) continue;
    fields.push({ name: need.column, role: 'eventColumn', shape: need.shape, required: false, allowed: null });
  }
  const timeColumns = [source.time.column, 'plusMillisecondsColumn' in source.time ? source.time.plusMillisecondsColumn : undefined];
  for (const column of timeColumns) {
    if (column === undefined || fields.some((field) => field.name === column)) continue;
    fields.push({ name: column, role: 'time', shape: 'text', required: false, allowed: null });
  }
  return fields;
}

/**
 * Builds the query that maps the JSON array `$events` to one row per event, in order,
 * with each feature's raw value in `f_<i>`: the columns the ingest's `events` table has,
 * computed by the same expressions.
 */
function mappingQuery(config: DatasetConfig, source: EventSource, plan: ColumnPlan, fields: readonly EventField[]): string {
  const nullValues = source.kind === 'rows' && source.format === 'csv' ? (source.csv?.nullValues ?? ['']) : [''];
  const text = (name: string) => {
    const value = `json_extract_string(line, ${jsonPath(name)})`;
    return `(CASE WHEN ${value} IN (SELECT unnest(${sqlStringList(nullValues)})) THEN NULL ELSE ${value} END)`;
  };
  const list = (name: string) => {
    const value = `json_extract(line, ${jsonPath(name)})`;
    return `(CASE WHEN json_type(${value}) = 'ARRAY' THEN from_json(${value}, '["VARCHAR"]') END)`;
  };

  const item = fields.find((field) => field.role === 'item')!;
  const eventType =
    source.kind === 'rows' && source.eventType.column !== undefined
      ? `nullif(${text(source.eventType.column)}, '')`
      : sqlString(source.kind === 'rows' ? source.eventType.constant! : source.eventType.constant);
  const eventColumns = plan.eventColumns.map((need, k) => `${need.shape === 'list' ? list(need.column) : text(need.column)} AS e_${k}`);

  const parsed = `from_json($events, '["JSON"]')`;
  const lines = `SELECT unnest(${parsed}) AS line, generate_subscripts(${parsed}, 1) AS position`;
  const events =
    `SELECT position, nullif(${text(item.name)}, '') AS item, ${eventType} AS event_type` +
    `${eventColumns.map((column) => `, ${column}`).join('')} FROM (${lines})`;
  const join = plan.catalogColumns.length > 0 ? ` LEFT JOIN ${CATALOG_TABLE} ON d.item = ${CATALOG_TABLE}.item_key` : '';
  const features = config.features.map((feature, i) => `${featureExpression(feature, plan.featureInputs[i]!)} AS f_${i}`);
  return `SELECT d.position, ${features.join(', ')} FROM (${events}) d${join} ORDER BY d.position`;
}

/** Loads the catalog files of the config into CATALOG_TABLE, as the ingest does. */
async function loadCatalogTable(session: DuckDBSession, options: RawEventMapperOptions, plan: ColumnPlan): Promise<void> {
  if (options.dataRoot === null) {
    throw new Error(
      `features of ${options.configSource} read the catalog, so raw events need it: pass --data-root (or set MCM_DATA_ROOT) ` +
        'to the directory the config\'s catalog path is relative to',
    );
  }
  // Only the catalog is resolved, so the event logs need not be on the serving machine.
  const sources = await resolveSourceFiles({ ...options.config, events: [] }, options.dataRoot);
  await loadCatalog(session, options.config.catalog!, sources.catalog, plan, options.logger);
}

function assertConfigMatchesManifest(config: DatasetConfig, configSource: string, manifest: Manifest): void {
  if (config.name !== manifest.dataset) {
    throw new Error(`${configSource} describes dataset "${config.name}", but the run was trained on "${manifest.dataset}"; pass the run's dataset config`);
  }
  const configured = config.features.map((feature) => `${feature.name}:${feature.kind}`).join(', ');
  const ingested = manifest.features.map((feature) => `${feature.name}:${feature.kind}`).join(', ');
  if (configured !== ingested) {
    throw new Error(`the features of ${configSource} (${configured}) differ from the ingested ones (${ingested}); pass the config the data was ingested with`);
  }
}
