import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@mcm/common';
import type { CustomerModel, ModelConfig, ModelWeights } from '@mcm/model';
import { OOV_ID, PAD_ID, readVocabulary } from '@mcm/schema';
import { checkpointDir, loadCheckpoint, readCheckpointMeta } from '@mcm/training';

/** The parts of a run's config.json that a warm start reads. */
interface PreviousRunConfig {
  data: string;
  modelConfig: ModelConfig | null;
}

/** The weights a warm start copied, mapped and left freshly initialised. */
export interface WarmStartReport {
  previousRun: string;
  checkpoint: { kind: string; step: number };
  /** Weights copied whole. */
  copied: string[];
  /** Vocabulary-indexed weights: rows carried over by value, and rows of values the previous model never saw. */
  mapped: Record<string, { keptRows: number; newRows: number; droppedValues: number }>;
  /** Weights whose shape changed for another reason than the vocabulary; they keep their fresh initialisation. */
  reinitialised: string[];
}

/**
 * Returns, for each id of `current`, the id of the same value in `previous`, or -1 for a
 * value `previous` does not have. Padding and out-of-vocabulary map to themselves.
 */
export function vocabularyMapping(previous: readonly string[], current: readonly string[]): Int32Array {
  const previousIds = new Map<string, number>();
  previous.forEach((value, id) => {
    if (id > OOV_ID) previousIds.set(value, id);
  });
  return Int32Array.from(current, (value, id) => (id === PAD_ID || id === OOV_ID ? id : (previousIds.get(value) ?? -1)));
}

/**
 * The source of the row of a value the previous model never saw. `fresh` keeps the new
 * model's initialisation, for training. `oov` copies the previous out-of-vocabulary row,
 * because that is how the previous model would have seen the value; it serves to compare
 * the previous model with a new one.
 */
export type UnseenValueRows = 'fresh' | 'oov';

/**
 * Builds the initial weights of a new model from a previous model's weights. A weight
 * indexed by a feature's vocabulary (the feature's embedding table, the bias of a task on
 * it) takes the previous row of each value the previous vocabulary has, and a row of a
 * new value as `unseen` selects. A mask-token row past the vocabulary follows the
 * vocabulary's end. Every other weight is copied when its shape is unchanged, and
 * otherwise keeps its fresh initialisation.
 */
export function warmStartWeights(
  previous: ModelWeights,
  fresh: ModelWeights,
  config: ModelConfig,
  mappings: Readonly<Record<string, Int32Array>>,
  unseen: UnseenValueRows = 'fresh',
): { weights: ModelWeights; copied: string[]; mapped: WarmStartReport['mapped']; reinitialised: string[] } {
  const weights: ModelWeights = {};
  const copied: string[] = [];
  const mapped: WarmStartReport['mapped'] = {};
  const reinitialised: string[] = [];
  const vocabularyFeature = vocabularyIndexedWeights(config);

  for (const [name, freshWeight] of Object.entries(fresh)) {
    const old = previous[name];
    const feature = vocabularyFeature.get(name);
    const mapping = feature === undefined ? undefined : mappings[feature];

    if (old !== undefined && mapping !== undefined) {
      const { values, keptRows } = mapRows(old, freshWeight, mapping, unseen);
      weights[name] = { shape: freshWeight.shape, values };
      const previousVocabulary = old.shape[0]! - (config.maskToken ? 1 : 0);
      mapped[name] = { keptRows, newRows: mapping.length - keptRows, droppedValues: droppedValues(mapping, previousVocabulary) };
    } else if (old !== undefined && old.shape.join('x') === freshWeight.shape.join('x')) {
      weights[name] = { shape: old.shape, values: Float32Array.from(old.values) };
      copied.push(name);
    } else {
      weights[name] = freshWeight;
      reinitialised.push(name);
    }
  }
  return { weights, copied, mapped, reinitialised };
}

/**
 * Loads the best checkpoint of `previousRunDir` (the last one when no validation ran) and
 * sets `model`'s weights from it, mapping vocabulary rows by value between the previous
 * run's ingest output and `dataDir`. The previous run's ingest output must still exist,
 * because its vocab/ files name the value of each old row.
 */
export async function warmStartModel(
  model: CustomerModel,
  dataDir: string,
  previousRunDir: string,
  logger: Logger,
  unseen: UnseenValueRows = 'fresh',
): Promise<WarmStartReport> {
  const previousConfig = JSON.parse(await readFile(join(previousRunDir, 'config.json'), 'utf8')) as PreviousRunConfig;
  if (previousConfig.modelConfig === null) throw new Error(`${previousRunDir} is a baseline run, which has no weights to warm-start from`);

  const directory = checkpointDir(previousRunDir);
  const kind = (await readCheckpointMeta(directory, 'best')) === null ? 'last' : 'best';
  const checkpoint = await loadCheckpoint(directory, kind);

  const mappings: Record<string, Int32Array> = {};
  for (const feature of model.config.features) {
    const previousValues = await readVocabularyOf(previousConfig.data, feature.name, previousRunDir);
    const currentValues = await readVocabulary(dataDir, feature.name);
    mappings[feature.name] = vocabularyMapping(previousValues, currentValues);
  }

  const { weights, copied, mapped, reinitialised } = warmStartWeights(checkpoint.weights, model.getWeights(), model.config, mappings, unseen);
  model.setWeights(weights);
  const report: WarmStartReport = { previousRun: previousRunDir, checkpoint: { kind, step: checkpoint.meta.step }, copied, mapped, reinitialised };
  logger.info({ previousRun: previousRunDir, checkpoint: report.checkpoint, mapped, reinitialised, unseen }, 'weights taken from the previous run');
  return report;
}

/** Weight name -> feature whose vocabulary indexes its rows. */
function vocabularyIndexedWeights(config: ModelConfig): Map<string, string> {
  const byName = new Map<string, string>();
  for (const feature of config.features) byName.set(`embedding/${feature.name}`, feature.name);
  for (const task of config.tasks) byName.set(`task/${task.name}/bias`, task.feature);
  return byName;
}

/** Copies row mapping[i] of `old` into row i of a copy of `fresh`; rows past the mapping (a mask token) follow the table's end. */
function mapRows(
  old: { shape: number[]; values: Float32Array },
  fresh: { shape: number[]; values: Float32Array },
  mapping: Int32Array,
  unseen: UnseenValueRows,
): { values: Float32Array; keptRows: number } {
  const width = fresh.values.length / fresh.shape[0]!;
  const oldWidth = old.values.length / old.shape[0]!;
  if (width !== oldWidth) throw new Error(`cannot map rows of width ${oldWidth} onto rows of width ${width}; the hidden size changed, so train from scratch`);

  const values = Float32Array.from(fresh.values);
  let keptRows = 0;
  for (let row = 0; row < fresh.shape[0]!; row++) {
    // A row past the vocabulary (the mask token) maps to the previous table's row at the same distance from its end.
    const source = row < mapping.length ? mapping[row]! : old.shape[0]! - (fresh.shape[0]! - row);
    if (source >= 0 && source < old.shape[0]!) {
      values.set(old.values.subarray(source * width, (source + 1) * width), row * width);
      if (row < mapping.length) keptRows++;
    } else if (unseen === 'oov') {
      values.set(old.values.subarray(OOV_ID * width, (OOV_ID + 1) * width), row * width);
    }
  }
  return { values, keptRows };
}

/** Counts the previous vocabulary's values (past padding and out-of-vocabulary) that no current id maps to. */
function droppedValues(mapping: Int32Array, previousVocabulary: number): number {
  const used = new Set(mapping);
  let dropped = 0;
  for (let id = OOV_ID + 1; id < previousVocabulary; id++) if (!used.has(id)) dropped++;
  return dropped;
}

async function readVocabularyOf(dataDir: string, feature: string, runDir: string): Promise<string[]> {
  try {
    return await readVocabulary(dataDir, feature);
  } catch (error) {
    throw new Error(
      `cannot warm-start from ${runDir}: the vocabulary of "${feature}" in its ingest output ${dataDir} is unreadable (${(error as Error).message}); ` +
        'keep the ingest output of the promoted run, or train from scratch',
      { cause: error },
    );
  }
}
