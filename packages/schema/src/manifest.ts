import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseIngestJson, readIngestFile, reingestAdvice } from './ingest-output-files.ts';

/** Version of the ingest output layout; the trainer rejects other versions. */
export const MANIFEST_FORMAT_VERSION = 1;

/** Vocabulary id of padding: never a real value, its embedding row stays zero. */
export const PAD_ID = 0;
/** Vocabulary id of every value not in the vocabulary (rare, or first seen after the training cut-off). */
export const OOV_ID = 1;
/** The first id given to a real value; ids then follow descending training-period frequency. */
export const FIRST_VALUE_ID = 2;

export const manifestFeatureSchema = z.object({
  name: z.string(),
  /** `multi`: each event carries a list of values (genres, attributes), pooled in the embedding. */
  kind: z.enum(['single', 'multi']),
  /** Vocabulary size including padding and out-of-vocabulary. */
  vocabularySize: z.number().int().min(2),
  /** Whether the next value of this feature is a pre-training task by default. */
  task: z.boolean(),
});

export const manifestSchema = z.object({
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  dataset: z.string(),
  customers: z.number().int().min(0),
  events: z.number().int().min(0),
  rowsRead: z.number().int().min(0),
  rejectedRows: z.number().int().min(0),
  rejectsByReason: z.record(z.string(), z.number().int().min(0)),
  duplicateRows: z.number().int().min(0),
  /** Events dropped because a customer had more than maxLength. */
  truncatedEvents: z.number().int().min(0),
  /** Events dropped by the dataset config's item and customer frequency filter (0 without a filter). */
  filteredEvents: z.number().int().min(0).optional(),
  /** Unit of event.time: epoch milliseconds, or the event's position for datasets that only have an order. */
  timeUnit: z.enum(['epoch-ms', 'position']).optional(),
  features: z.array(manifestFeatureSchema).min(1),
  /** Feature name -> vocabulary size (including padding and out-of-vocabulary). */
  vocabularies: z.record(z.string(), z.number().int().min(2)),
  /** Names of the features whose next value is predicted, in order. */
  tasks: z.array(z.string()),
  /** The feature that identifies the item, when the dataset has one. */
  itemFeature: z.string().nullable(),
  split: z.object({
    kind: z.enum(['time', 'fraction', 'leave-last-out']),
    /** Events at or after this time (epoch ms) are validation; null for leave-last-out. */
    trainEnd: z.number().nullable(),
    /** Events at or after this time (epoch ms) are test; null for leave-last-out. */
    validationEnd: z.number().nullable(),
    trainEndIso: z.string().nullable(),
    validationEndIso: z.string().nullable(),
  }),
  splitEvents: z.object({ train: z.number().int(), validation: z.number().int(), test: z.number().int() }),
  maxLength: z.number().int().min(2),
  shards: z.array(z.object({ file: z.string(), customers: z.number().int(), events: z.number().int() })),
  /** sha256 over the normalised config and the sources' names, sizes and contents. */
  fingerprint: z.string(),
  /** Relative path of the reject file, or null when no row was rejected. */
  rejectFile: z.string().nullable(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestFeature = z.infer<typeof manifestFeatureSchema>;

/** Reads and validates `<dir>/manifest.json`. */
export async function readManifest(dir: string): Promise<Manifest> {
  const path = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error(`${path} not found: pass the output directory of "nx run pipeline:ingest" (it writes manifest.json)`, { cause: error });
    }
    throw new Error(`${path} could not be read (${code ?? String(error)}); ${reingestAdvice(dir)}`, { cause: error });
  }
  const parsed = manifestSchema.safeParse(parseIngestJson(text, path, dir));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(
      `${path}: invalid manifest at "${issue.path.join('.')}": ${issue.message}; re-run the ingest with this version of mcm`,
    );
  }
  return parsed.data;
}

/** Reads `<dir>/vocab/<feature>.json`: the value of each id (index 0 padding, 1 out-of-vocabulary). */
export async function readVocabulary(dir: string, feature: string): Promise<string[]> {
  const path = join(dir, 'vocab', `${feature}.json`);
  const text = (await readIngestFile(path, dir)).toString('utf8');
  return parseIngestJson(text, path, dir) as string[];
}
