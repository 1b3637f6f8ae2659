import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/**
 * Defaults of a dataset config (`datasets/<name>.json`), each with its reason.
 * A config that leaves a field out gets the value here, and the normalised config
 * (the one fingerprinted into the manifest) spells every default out.
 */
export const DATASET_CONFIG_DEFAULTS = {
  /** The MCM paper's setting (RecSys 2023): each customer keeps the most recent 300 interactions. */
  maxLength: 300,
  /** Enough shards to spread customers over 8 trainer workers, few enough that small datasets stay in a handful of files. */
  shards: 8,
  /**
   * Exported logs usually contain a few broken lines. More than 1% rejected rows
   * usually means a wrong delimiter, encoding or column mapping, so the run stops.
   */
  maxRejectFraction: 0.01,
  /** Fractions of the time range need no knowledge of the dates, and still train on the past and test on the future. */
  split: { kind: 'fraction', train: 0.8, validation: 0.1 } as const,
  /** The usual CSV dialect: comma, a header line, double quotes, UTF-8, empty field = missing value. */
  csv: { delimiter: ',', header: true, quote: '"', escape: '"', encoding: 'utf-8', nullValues: [''] },
  /** S3-Rec and SASRec text files separate the customer and the items with one space. */
  sequenceDelimiter: ' ',
  /** Category paths such as `electronics.smartphone.case` use a dot. */
  pathDelimiter: '.',
  /** Datasets with only one kind of interaction need no event type column. */
  eventType: { constant: 'interaction' },
  /** A value seen once in the training period still gets its own id; raise it to cut long tails. */
  minCount: 1,
  /** The name of an item-map catalog's one value column unless the config sets another. */
  catalogValueColumn: 'values',
} as const;

/** Vocabulary value of a missing feature value: a real value with its own id, counted like any other. */
export const MISSING_VALUE = '<missing>';
/** Vocabulary file entry of id 0 (padding). */
export const PAD_VALUE = '<pad>';
/** Vocabulary file entry of id 1 (out of vocabulary). */
export const OOV_VALUE = '<oov>';

/** The five features of the MCM paper (RecSys 2023), in order. The first four are tasks by default. */
export const DEFAULT_FEATURE_NAMES = ['product_line', 'category', 'subcategory', 'brand', 'event_type'] as const;
export type DefaultFeatureName = (typeof DEFAULT_FEATURE_NAMES)[number];

/** Levels of a category path that the default features read: 0 product line, 1 category, 2 subcategory. */
const DEFAULT_PATH_LEVELS: Record<'product_line' | 'category' | 'subcategory', number> = {
  product_line: 0,
  category: 1,
  subcategory: 2,
};

// ---------------------------------------------------------------------------
// Building blocks

const columnName = z.string().min(1, 'must name a column (an empty string was given)');

const sourcePath = z
  .string()
  .min(1, 'must be a glob relative to the data root, e.g. "my_shop/events-*.csv.gz"')
  .refine((path) => !path.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(path), {
    message: 'must be relative to the data root (--data-root or MCM_DATA_ROOT) so that the config works on every machine; drop the leading directory',
  })
  .refine((path) => !path.split(/[\\/]/).includes('..'), {
    message: 'must stay inside the data root; remove the ".." segments',
  });

const csvOptionsSchema = z.strictObject({
  /** Field separator, 1 to 4 characters (ML-1M's `.dat` files use `::`). */
  delimiter: z.string().min(1, 'must not be empty').max(4, 'must be at most 4 characters').default(DATASET_CONFIG_DEFAULTS.csv.delimiter),
  /** Whether the first line names the columns. */
  header: z.boolean().default(DATASET_CONFIG_DEFAULTS.csv.header),
  /** Quote character, or "" for files that never quote. */
  quote: z.string().max(1, 'must be one character or ""').default(DATASET_CONFIG_DEFAULTS.csv.quote),
  escape: z.string().max(1, 'must be one character or ""').default(DATASET_CONFIG_DEFAULTS.csv.escape),
  encoding: z.enum(['utf-8', 'latin-1', 'utf-16']).default(DATASET_CONFIG_DEFAULTS.csv.encoding),
  /** Column names of a file without a header line, in file order. */
  columns: z.array(columnName).min(1, 'must list at least one column name').optional(),
  /** Field values that mean "missing". */
  nullValues: z.array(z.string()).default([...DATASET_CONFIG_DEFAULTS.csv.nullValues]),
});

const fileFormat = z.enum(['csv', 'parquet', 'jsonl']);

const timeColumnFields = {
  column: columnName,
  /** A column of milliseconds added to the time, e.g. Diginetica's time since the session start. */
  plusMillisecondsColumn: columnName.optional(),
};

const timeSchema = z.discriminatedUnion('format', [
  z.strictObject({ format: z.literal('epoch-seconds'), ...timeColumnFields }),
  z.strictObject({ format: z.literal('epoch-milliseconds'), ...timeColumnFields }),
  z.strictObject({ format: z.literal('iso'), ...timeColumnFields }),
  z.strictObject({
    format: z.literal('strptime'),
    ...timeColumnFields,
    /** A strptime pattern such as "%Y-%m-%d %H:%M:%S"; a value without a zone is read as UTC. */
    pattern: z.string().min(1, 'must be a strptime pattern such as "%Y-%m-%d %H:%M:%S"'),
  }),
  /** Only the order of events is known: the column contains each event's position in its customer's sequence. */
  z.strictObject({ format: z.literal('order'), column: columnName }),
]);

const eventTypeSchema = z
  .strictObject({
    column: columnName.optional(),
    constant: z.string().min(1, 'must not be empty').optional(),
    /** The event types the dataset may contain; rows with any other type are rejected as `unknown-event-type`. */
    allowed: z.array(z.string().min(1)).min(1, 'must list at least one event type, or be left out').optional(),
  })
  .superRefine((value, context) => {
    if ((value.column === undefined) === (value.constant === undefined)) {
      context.addIssue({
        code: 'custom',
        message: 'must set exactly one of "column" (the column holding the event type) or "constant" (one type for every row)',
      });
    }
  });

const rowEventSourceSchema = z.strictObject({
  kind: z.literal('rows'),
  path: sourcePath,
  /** Inferred from the path's extension when left out. */
  format: fileFormat.optional(),
  csv: csvOptionsSchema.optional(),
  customer: columnName,
  item: columnName,
  time: timeSchema,
  eventType: eventTypeSchema.default({ ...DATASET_CONFIG_DEFAULTS.eventType }),
});

/** One customer per line: `customer item1 item2 ...` with the items in time order (S3-Rec, SASRec text files). */
const sequenceEventSourceSchema = z.strictObject({
  kind: z.literal('customer-sequences'),
  path: sourcePath,
  delimiter: z.string().min(1, 'must not be empty').default(DATASET_CONFIG_DEFAULTS.sequenceDelimiter),
  encoding: z.enum(['utf-8', 'latin-1', 'utf-16']).default('utf-8'),
  eventType: z
    .strictObject({ constant: z.string().min(1, 'must not be empty') })
    .default({ constant: DATASET_CONFIG_DEFAULTS.eventType.constant }),
});

/** Sources without a `kind` are plain event rows. */
const eventSourceSchema = z.preprocess(
  (value) => (isPlainObject(value) && !('kind' in value) ? { ...value, kind: 'rows' } : value),
  z.discriminatedUnion('kind', [rowEventSourceSchema, sequenceEventSourceSchema]),
);

const rowCatalogSchema = z.strictObject({
  kind: z.literal('rows'),
  path: sourcePath,
  format: fileFormat.optional(),
  csv: csvOptionsSchema.optional(),
  /** The catalog column that contains the item id of the events. */
  itemKey: columnName,
});

/** One JSON object `{"<item id>": [values...]}` for the whole catalog (S3-Rec `*_item2attributes.json`). */
const itemMapCatalogSchema = z.strictObject({
  kind: z.literal('item-map-json'),
  path: sourcePath,
  /** The name under which features refer to the value lists. */
  valueColumn: columnName.default(DATASET_CONFIG_DEFAULTS.catalogValueColumn),
});

const catalogSchema = z.preprocess(
  (value) => (isPlainObject(value) && !('kind' in value) ? { ...value, kind: 'rows' } : value),
  z.discriminatedUnion('kind', [rowCatalogSchema, itemMapCatalogSchema]),
);

const vocabularyOptionsSchema = z.strictObject({
  /** Values seen fewer times than this in the training period map to out-of-vocabulary. */
  minCount: z.number().int().min(1, 'must be at least 1').default(DATASET_CONFIG_DEFAULTS.minCount),
  /** Largest vocabulary size, counting padding and out-of-vocabulary; the most frequent values are kept. */
  maxSize: z.number().int().min(3, 'must be at least 3 (padding, out-of-vocabulary and one value)').optional(),
});

const featureNamePattern = /^[A-Za-z][A-Za-z0-9_-]*$/;

const featureSchema = z
  .strictObject({
    /** Names the vocabulary file and the shard column, so only letters, digits, `_` and `-`. */
    name: z.string().regex(featureNamePattern, 'must start with a letter and contain only letters, digits, "_" and "-"'),
    from: z.enum(['item', 'eventType', 'event', 'catalog']),
    /** The event or catalog column; only for `from` "event" or "catalog". */
    column: columnName.optional(),
    /** Level of a delimited category path: 0 product line, 1 category, 2 subcategory. */
    pathLevel: z.number().int().min(0, 'must be 0 or more (0 is the top level)').optional(),
    pathDelimiter: z.string().min(1, 'must not be empty').optional(),
    kind: z.enum(['single', 'multi']).default('single'),
    /** Separator of the values of a `multi` feature held in one string; leave out for a list column. */
    delimiter: z.string().min(1, 'must not be empty').optional(),
    /** Whether the next value of this feature is a pre-training task; default true, except for the event type. */
    task: z.boolean().optional(),
    vocabulary: vocabularyOptionsSchema.default({ minCount: DATASET_CONFIG_DEFAULTS.minCount }),
  })
  .superRefine((feature, context) => {
    const needsColumn = feature.from === 'event' || feature.from === 'catalog';
    if (needsColumn && feature.column === undefined) {
      context.addIssue({ code: 'custom', path: ['column'], message: `is required when "from" is "${feature.from}": name the column to read` });
    }
    if (!needsColumn && feature.column !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['column'],
        message: `is not used when "from" is "${feature.from}" (the source's ${feature.from} mapping applies); remove it`,
      });
    }
    if (feature.pathLevel !== undefined && feature.kind === 'multi') {
      context.addIssue({ code: 'custom', path: ['pathLevel'], message: 'cannot be combined with kind "multi"; a path level is one value' });
    }
    if (feature.pathDelimiter !== undefined && feature.pathLevel === undefined) {
      context.addIssue({ code: 'custom', path: ['pathDelimiter'], message: 'only applies together with "pathLevel"; add pathLevel or remove it' });
    }
    if (feature.delimiter !== undefined && feature.kind !== 'multi') {
      context.addIssue({ code: 'custom', path: ['delimiter'], message: 'only applies to kind "multi"; set kind to "multi" or remove it' });
    }
  });

/** A column of the events or of the catalog that a default feature reads. */
const columnReferenceSchema = z.strictObject({
  from: z.enum(['event', 'catalog']).default('event'),
  column: columnName,
});

const categoryPathSchema = columnReferenceSchema.extend({
  delimiter: z.string().min(1, 'must not be empty').default(DATASET_CONFIG_DEFAULTS.pathDelimiter),
});

/** An ISO 8601 date or date-time; without a zone it is UTC. */
const isoInstant = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/,
    'must be an ISO 8601 date or date-time such as "2019-10-01" or "2019-10-01T02:10:00Z"',
  );

const splitSchema = z.discriminatedUnion('kind', [
  /** Events at or after `trainEnd` are validation, at or after `validationEnd` test. */
  z.strictObject({ kind: z.literal('time'), trainEnd: isoInstant, validationEnd: isoInstant }),
  /** Cut-offs at these fractions of the time range from the first to the last valid event. */
  z.strictObject({
    kind: z.literal('fraction'),
    train: z.number().gt(0, 'must be above 0').lt(1, 'must be below 1'),
    validation: z.number().gt(0, 'must be above 0').lt(1, 'must be below 1'),
  }),
  /** Each customer's last event is test and the one before validation; for datasets with only an order. */
  z.strictObject({ kind: z.literal('leave-last-out') }),
]);

/** The item-then-customer frequency filter of the SASRec / BERT4Rec protocol, applied once in that order. */
const filterSchema = z.strictObject({
  minItemEvents: z.number().int().min(1, 'must be at least 1').default(1),
  minCustomerEvents: z.number().int().min(1, 'must be at least 1').default(1),
});

// ---------------------------------------------------------------------------
// The whole config

const rawDatasetConfigSchema = z.strictObject({
  /** Names the dataset in the manifest; letters, digits, `_`, `-` and `.`. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must contain only letters, digits, "_", "-" and "." (it names the dataset in the manifest)'),
  description: z.string().optional(),
  /** One source or a list of them (e.g. a view log and a purchase log); each row is one event. */
  events: z.preprocess(
    (value) => (Array.isArray(value) ? value : [value]),
    z.array(eventSourceSchema).min(1, 'must list at least one source'),
  ),
  catalog: catalogSchema.optional(),
  /** The delimited category path that the default features product_line, category and subcategory read. */
  categoryPath: categoryPathSchema.optional(),
  /** The brand column that the default feature brand reads. */
  brand: columnReferenceSchema.optional(),
  /** Feature definitions, or names of default features (see DEFAULT_FEATURE_NAMES). */
  features: z.array(z.union([z.enum(DEFAULT_FEATURE_NAMES), featureSchema])).min(1, 'must list at least one feature').optional(),
  split: splitSchema.default({ ...DATASET_CONFIG_DEFAULTS.split }),
  maxLength: z.number().int().min(2, 'must be at least 2 (one history event and one label)').default(DATASET_CONFIG_DEFAULTS.maxLength),
  shards: z.number().int().min(1, 'must be at least 1').max(4096, 'must be at most 4096').default(DATASET_CONFIG_DEFAULTS.shards),
  maxRejectFraction: z
    .number()
    .min(0, 'must be between 0 and 1')
    .max(1, 'must be between 0 and 1')
    .default(DATASET_CONFIG_DEFAULTS.maxRejectFraction),
  filter: filterSchema.optional(),
});

type RawDatasetConfig = z.infer<typeof rawDatasetConfigSchema>;
type RawFeature = z.infer<typeof featureSchema>;

export type CsvOptions = z.infer<typeof csvOptionsSchema>;
export type FileFormat = z.infer<typeof fileFormat>;
export type TimeMapping = z.infer<typeof timeSchema>;
export type RowEventSource = z.infer<typeof rowEventSourceSchema> & { format: FileFormat };
export type SequenceEventSource = z.infer<typeof sequenceEventSourceSchema>;
export type EventSource = RowEventSource | SequenceEventSource;
export type RowCatalog = z.infer<typeof rowCatalogSchema> & { format: FileFormat };
export type ItemMapCatalog = z.infer<typeof itemMapCatalogSchema>;
export type CatalogSource = RowCatalog | ItemMapCatalog;
export type SplitConfig = z.infer<typeof splitSchema>;
export type FilterConfig = z.infer<typeof filterSchema>;

/** A feature with every default filled in. */
export interface FeatureConfig {
  name: string;
  from: 'item' | 'eventType' | 'event' | 'catalog';
  /** The event or catalog column, or null for `item` and `eventType`. */
  column: string | null;
  kind: 'single' | 'multi';
  /** Level of a delimited path, or null to take the whole value. */
  pathLevel: number | null;
  pathDelimiter: string | null;
  /** Separator of a multi-valued string, or null for a list column (or a single value). */
  delimiter: string | null;
  task: boolean;
  vocabulary: { minCount: number; maxSize: number | null };
}

/** A validated dataset config with every default filled in. */
export interface DatasetConfig {
  name: string;
  description: string | null;
  events: EventSource[];
  catalog: CatalogSource | null;
  features: FeatureConfig[];
  split: SplitConfig;
  maxLength: number;
  shards: number;
  maxRejectFraction: number;
  filter: FilterConfig | null;
}

export const datasetConfigSchema = rawDatasetConfigSchema.superRefine(checkCrossFieldRules).transform(normaliseConfig);

// ---------------------------------------------------------------------------
// Rules that span several fields

function checkCrossFieldRules(config: RawDatasetConfig, context: z.RefinementCtx): void {
  const sources = config.events;
  const eventsPath = (index: number): (string | number)[] => ['events', index];

  sources.forEach((source, index) => {
    if (source.kind === 'rows' && source.format === undefined && inferFormat(source.path) === null) {
      context.addIssue({
        code: 'custom',
        path: [...eventsPath(index), 'format'],
        message: `is required because the extension of "${source.path}" does not name a known format; set "csv", "parquet" or "jsonl"`,
      });
    }
    if (source.kind === 'rows') checkCsvOptions(source.format ?? inferFormat(source.path), source.csv, [...eventsPath(index), 'csv'], context);
  });
  if (config.catalog?.kind === 'rows') {
    if (config.catalog.format === undefined && inferFormat(config.catalog.path) === null) {
      context.addIssue({
        code: 'custom',
        path: ['catalog', 'format'],
        message: `is required because the extension of "${config.catalog.path}" does not name a known format; set "csv", "parquet" or "jsonl"`,
      });
    }
    checkCsvOptions(config.catalog.format ?? inferFormat(config.catalog.path), config.catalog.csv, ['catalog', 'csv'], context);
  }

  const orderOnly = sources.map((source) => source.kind === 'customer-sequences' || source.time.format === 'order');
  if (orderOnly.some(Boolean) && !orderOnly.every(Boolean)) {
    context.addIssue({
      code: 'custom',
      path: ['events'],
      message: 'mixes sources that have timestamps with sources that only have an order; events of both kinds cannot be ordered together',
    });
  }
  const split = config.split ?? DATASET_CONFIG_DEFAULTS.split;
  if (orderOnly.every(Boolean) && split.kind !== 'leave-last-out') {
    context.addIssue({
      code: 'custom',
      path: ['split', 'kind'],
      message: `is "${split.kind}", but the events only have an order, no timestamps; use {"kind": "leave-last-out"}`,
    });
  }
  if (split.kind === 'time' && parseIsoInstant(split.trainEnd) >= parseIsoInstant(split.validationEnd)) {
    context.addIssue({
      code: 'custom',
      path: ['split', 'validationEnd'],
      message: `must be later than trainEnd (${split.trainEnd}); got ${split.validationEnd}`,
    });
  }
  if (split.kind === 'fraction' && split.train + split.validation >= 1) {
    context.addIssue({
      code: 'custom',
      path: ['split'],
      message: `train + validation must be below 1 so that a test period remains; got ${split.train} + ${split.validation}`,
    });
  }

  checkFeatures(config, context);
}

function checkCsvOptions(
  format: FileFormat | null | undefined,
  csv: CsvOptions | undefined,
  path: (string | number)[],
  context: z.RefinementCtx,
): void {
  if (csv === undefined) return;
  if (format !== undefined && format !== null && format !== 'csv') {
    context.addIssue({ code: 'custom', path, message: `only applies to CSV files, but the format is "${format}"; remove it` });
  }
  if (csv.header === false && csv.columns === undefined) {
    context.addIssue({
      code: 'custom',
      path: [...path, 'columns'],
      message: 'is required when header is false: list the column names in file order',
    });
  }
}

function checkFeatures(config: RawDatasetConfig, context: z.RefinementCtx): void {
  const entries = config.features ?? [...DEFAULT_FEATURE_NAMES];
  const seen = new Set<string>();
  let itemFeatures = 0;

  entries.forEach((entry, index) => {
    const path = config.features === undefined ? ['features'] : ['features', index];
    const name = typeof entry === 'string' ? entry : entry.name;
    if (seen.has(name)) {
      context.addIssue({ code: 'custom', path, message: `repeats the feature name "${name}"; every feature needs its own name` });
    }
    seen.add(name);

    if (typeof entry === 'string') {
      if (entry === 'brand' && config.brand === undefined) {
        context.addIssue({
          code: 'custom',
          path,
          message: 'uses the default feature "brand", which needs a top-level "brand": {"column": "<brand column>"}; add it or define the feature in full',
        });
      }
      if (entry in DEFAULT_PATH_LEVELS && config.categoryPath === undefined) {
        context.addIssue({
          code: 'custom',
          path,
          message: `uses the default feature "${entry}", which needs a top-level "categoryPath": {"column": "<category path column>"}; add it or define the feature in full`,
        });
      }
      return;
    }

    if (entry.from === 'item') itemFeatures += 1;
    if (entry.from === 'catalog' && config.catalog === undefined) {
      context.addIssue({ code: 'custom', path: [...path, 'from'], message: 'is "catalog", but the config has no "catalog"; add one or read an event column' });
    }
  });

  if (itemFeatures > 1) {
    context.addIssue({ code: 'custom', path: ['features'], message: `defines ${itemFeatures} features with "from": "item"; keep one` });
  }
  const usesCatalog = [config.categoryPath, config.brand].some((reference) => reference?.from === 'catalog');
  if (usesCatalog && config.catalog === undefined) {
    context.addIssue({ code: 'custom', path: ['catalog'], message: 'is required because categoryPath or brand reads from the catalog' });
  }
}

// ---------------------------------------------------------------------------
// Normalisation: every default spelled out, features resolved

function normaliseConfig(config: RawDatasetConfig): DatasetConfig {
  const events: EventSource[] = config.events.map((source) =>
    source.kind === 'rows' ? { ...source, format: source.format ?? inferFormat(source.path)! } : source,
  );
  const catalog: CatalogSource | null =
    config.catalog === undefined
      ? null
      : config.catalog.kind === 'rows'
        ? { ...config.catalog, format: config.catalog.format ?? inferFormat(config.catalog.path)! }
        : config.catalog;

  const entries = config.features ?? [...DEFAULT_FEATURE_NAMES];
  const features = entries.map((entry) => (typeof entry === 'string' ? defaultFeature(entry, config) : resolveFeature(entry)));

  return {
    name: config.name,
    description: config.description ?? null,
    events,
    catalog,
    features,
    split: config.split,
    maxLength: config.maxLength,
    shards: config.shards,
    maxRejectFraction: config.maxRejectFraction,
    filter: config.filter ?? null,
  };
}

function resolveFeature(feature: RawFeature): FeatureConfig {
  return {
    name: feature.name,
    from: feature.from,
    column: feature.column ?? null,
    kind: feature.kind,
    pathLevel: feature.pathLevel ?? null,
    pathDelimiter: feature.pathLevel === undefined ? null : (feature.pathDelimiter ?? DATASET_CONFIG_DEFAULTS.pathDelimiter),
    delimiter: feature.delimiter ?? null,
    task: feature.task ?? feature.from !== 'eventType',
    vocabulary: { minCount: feature.vocabulary.minCount, maxSize: feature.vocabulary.maxSize ?? null },
  };
}

function defaultFeature(name: DefaultFeatureName, config: RawDatasetConfig): FeatureConfig {
  const base = { kind: 'single' as const, delimiter: null, vocabulary: { minCount: DATASET_CONFIG_DEFAULTS.minCount, maxSize: null } };
  if (name === 'event_type') {
    return { ...base, name, from: 'eventType', column: null, pathLevel: null, pathDelimiter: null, task: false };
  }
  if (name === 'brand') {
    const brand = config.brand!;
    return { ...base, name, from: brand.from, column: brand.column, pathLevel: null, pathDelimiter: null, task: true };
  }
  const path = config.categoryPath!;
  return {
    ...base,
    name,
    from: path.from,
    column: path.column,
    pathLevel: DEFAULT_PATH_LEVELS[name],
    pathDelimiter: path.delimiter,
    task: true,
  };
}

// ---------------------------------------------------------------------------
// Helpers shared with the ingest

/** Infers the file format from a path's extension (`.gz` and `.zst` are looked through); null when unknown. */
export function inferFormat(path: string): FileFormat | null {
  const name = path.toLowerCase().replace(/\.(gz|zst)$/, '');
  if (/\.(csv|tsv|txt|dat)$/.test(name)) return 'csv';
  if (name.endsWith('.parquet')) return 'parquet';
  if (/\.(jsonl|ndjson|json)$/.test(name)) return 'jsonl';
  return null;
}

/** Parses an ISO 8601 date or date-time accepted by the config into epoch milliseconds; no zone means UTC. */
export function parseIsoInstant(value: string): number {
  const hasZone = /(Z|[+-]\d{2}:\d{2})$/.test(value);
  const withTime = value.includes('T') ? value : `${value}T00:00:00`;
  const milliseconds = Date.parse(hasZone ? withTime : `${withTime}Z`);
  if (Number.isNaN(milliseconds)) throw new Error(`"${value}" is not a valid ISO 8601 date or date-time`);
  return milliseconds;
}

/** Raised for a config that fails validation; `issues` lists every problem as "<field>: <message>". */
export class DatasetConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`${source}: invalid dataset config:\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
    this.name = 'DatasetConfigError';
  }
}

/** Validates a parsed JSON value as a dataset config; `source` names the file in errors. */
export function parseDatasetConfig(value: unknown, source = 'dataset config'): DatasetConfig {
  const result = datasetConfigSchema.safeParse(value);
  if (result.success) return result.data;
  throw new DatasetConfigError(
    source,
    result.error.issues.flatMap((issue) => describeIssue(issue, value)),
  );
}

/** Reads and validates a dataset config file. */
export async function loadDatasetConfig(path: string): Promise<DatasetConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'not found' : `could not be read (${code ?? String(error)})`;
    throw new Error(`dataset config ${path} ${reason}; pass --config with the path of a datasets/<name>.json file`, { cause: error });
  }

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`dataset config ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseDatasetConfig(value, path);
}

/** Serialises the normalised config as canonical JSON (keys sorted), the form that the fingerprint hashes. */
export function canonicalConfigJson(config: DatasetConfig): string {
  return JSON.stringify(sortKeys(config));
}

/** Describes one issue as "<field>: <problem and fix>" lines; `root` is the whole config as given. */
function describeIssue(issue: z.core.$ZodIssue, root: unknown): string[] {
  const field = formatPath(issue.path);
  // zod leaves the offending value out of some issues, so look it up in the config.
  const input = valueAt(root, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys.map((key) => `"${key}"`).join(', ');
      return [`${field || '(top level)'}: unknown field ${keys}; check the spelling or remove it`];
    }
    case 'invalid_type':
      if (input === undefined) return [`${field}: is required`];
      return [`${field}: must be ${article(issue.expected)}, got ${describeValue(input)}`];
    case 'invalid_value':
      return [`${field}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}; got ${describeValue(input)}`];
    case 'invalid_union':
      return describeUnionIssue(issue, field, input, root);
    default:
      return [`${field}: ${issue.message}`];
  }
}

function describeUnionIssue(issue: z.core.$ZodIssueInvalidUnion, field: string, input: unknown, root: unknown): string[] {
  if ('discriminator' in issue && 'options' in issue && Array.isArray(issue.options)) {
    const options = (issue.options as unknown[]).map((option) => JSON.stringify(option)).join(', ');
    if (input === undefined) return [`${field}: is required; set one of ${options}`];
    return [`${field}: must be one of ${options}; got ${describeValue(input)}`];
  }

  // A feature is a default feature's name or a feature object: report the branch whose shape matches.
  const matchingShape = issue.errors.find((branch) =>
    branch.every((inner) => inner.path.length > 0 || (typeof input === 'string' && inner.code === 'invalid_value')),
  );
  if (matchingShape === undefined) {
    return [`${field}: must be a default feature name such as "brand" or a feature object with "name" and "from"; got ${describeValue(input)}`];
  }
  return matchingShape.flatMap((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }, root));
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  // A single event source is wrapped in a list before validation, so "events[0]" may point at it.
  const wrap = isPlainObject(root) && root.events !== undefined && !Array.isArray(root.events);
  let value: unknown = wrap ? { ...root, events: [root.events] } : root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function formatPath(path: PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text === '' ? String(key) : `.${String(key)}`;
  }
  return text;
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys(value[key])]),
  );
}
