import type { ModelOptions } from '@mcm/model';
import { CAUSAL_SAMPLER, CLOZE_SAMPLER, LAST_EVENT_SAMPLER, RANDOM_PREFIX_SAMPLER } from '@mcm/training';

/**
 * A model the `--model` option can name. A `neural` variant is trained; a `baseline`
 * variant is counted from the training period and only evaluated.
 *
 * A neural variant's `input` names what it embeds: `all` features, or only the feature of
 * the task it predicts (`task-feature`: item-level input for an item task, the category
 * sequence for a category task). A `perTask` variant trains one model per task, so a run
 * of it names exactly one task with `--tasks`; `trainer:ablation` runs one per task.
 */
export type ModelVariant =
  | {
      name: string;
      kind: 'neural';
      description: string;
      sampler: string;
      input: 'all' | 'task-feature';
      perTask: boolean;
      modelOptions: Partial<ModelOptions>;
    }
  | { name: string; kind: 'baseline'; description: string };

export type NeuralVariant = Extract<ModelVariant, { kind: 'neural' }>;

export const MODEL_VARIANTS: readonly ModelVariant[] = [
  {
    name: 'mcm',
    kind: 'neural',
    description: 'MCM: every feature as input, bidirectional encoder, task-aware attentional readout, all tasks, random prefix training',
    sampler: RANDOM_PREFIX_SAMPLER,
    input: 'all',
    perTask: false,
    modelOptions: { readout: 'attentional', attention: 'bidirectional' },
  },
  { name: 'popularity', kind: 'baseline', description: "each task's values ranked by training-period frequency" },
  { name: 'last-value', kind: 'baseline', description: "the customer's most recent value of each task first, then by popularity" },
  {
    name: 'mcm-mtl',
    kind: 'neural',
    description: 'MCM without random prefixes: each customer trains on its whole training history and its last training event, once per epoch',
    sampler: LAST_EVENT_SAMPLER,
    input: 'all',
    perTask: false,
    modelOptions: { readout: 'attentional', attention: 'bidirectional' },
  },
  {
    name: 'mcm-single',
    kind: 'neural',
    description: 'every feature as input, one model per task, Cloze training and last-position readout as in BERT4Rec',
    sampler: CLOZE_SAMPLER,
    input: 'all',
    perTask: true,
    modelOptions: { readout: 'last-position', attention: 'bidirectional', maskToken: true, maskedInference: true },
  },
  {
    name: 'bert4rec',
    kind: 'neural',
    description: "BERT4Rec: only the task's own feature as input, one model per task, Cloze training, a mask event appended at inference",
    sampler: CLOZE_SAMPLER,
    input: 'task-feature',
    perTask: true,
    // 2 blocks of 2 heads are BERT4Rec's published settings.
    modelOptions: { readout: 'last-position', attention: 'bidirectional', maskToken: true, maskedInference: true, layers: 2, heads: 2 },
  },
  {
    name: 'sasrec',
    kind: 'neural',
    description: "SASRec: only the task's own feature as input, one model per task, causal attention, full-softmax next-event loss at every position",
    sampler: CAUSAL_SAMPLER,
    input: 'task-feature',
    perTask: true,
    // SASRec's published block: 2 pre-LN blocks, 1 head, dropout 0.2, scores by a plain
    // dot product with the item embedding.
    modelOptions: {
      readout: 'last-position',
      attention: 'causal',
      normalization: 'pre',
      layers: 2,
      heads: 1,
      dropout: 0.2,
      candidateProjection: false,
      candidateBias: false,
    },
  },
];

/** Finds the variant named `name`; an unknown name is an error that lists the available ones. */
export function findModelVariant(name: string): ModelVariant {
  const variant = MODEL_VARIANTS.find((candidate) => candidate.name === name);
  if (variant === undefined) throw new Error(`unknown model "${name}"; available: ${MODEL_VARIANTS.map((candidate) => candidate.name).join(', ')}`);
  return variant;
}
