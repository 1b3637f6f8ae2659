import type { ModelOptions } from '@mcm/model';
import { RANDOM_PREFIX_SAMPLER } from '@mcm/training';

/**
 * A model the `--model` option can name. A `neural` variant is trained. A `baseline`
 * variant is counted from the training period and only evaluated. A `planned` variant
 * has a name and a description but no implementation yet.
 */
export type ModelVariant =
  | { name: string; kind: 'neural'; description: string; sampler: string; modelOptions: Partial<ModelOptions> }
  | { name: string; kind: 'baseline'; description: string }
  | { name: string; kind: 'planned'; description: string; missing: string };

export const MODEL_VARIANTS: readonly ModelVariant[] = [
  {
    name: 'mcm',
    kind: 'neural',
    description: 'MCM: every feature as input, bidirectional encoder, task-aware attentional readout, all tasks, random prefix training',
    sampler: RANDOM_PREFIX_SAMPLER,
    modelOptions: { readout: 'attentional', attention: 'bidirectional' },
  },
  { name: 'popularity', kind: 'baseline', description: "each task's values ranked by training-period frequency" },
  { name: 'last-value', kind: 'baseline', description: "the customer's most recent value of each task first, then by popularity" },
  {
    name: 'mcm-mtl',
    kind: 'planned',
    description: 'MCM trained with Cloze (masked-event) targets instead of random prefixes',
    missing: 'a Cloze sampler',
  },
  { name: 'mcm-single', kind: 'planned', description: 'one MCM model per task', missing: 'a run per task and a combined report' },
  {
    name: 'bert4rec',
    kind: 'planned',
    description: 'item-only input, Cloze training, last-position readout',
    missing: 'a Cloze sampler',
  },
  {
    name: 'sasrec',
    kind: 'planned',
    description: 'item-only input, causal attention, next-event loss at every position, last-position readout',
    missing: 'a causal sampler',
  },
];

/** Finds the variant named `name`. An unknown or planned name is an error that lists the available ones. */
export function findModelVariant(name: string): Exclude<ModelVariant, { kind: 'planned' }> {
  const variant = MODEL_VARIANTS.find((candidate) => candidate.name === name);
  const available = MODEL_VARIANTS.filter((candidate) => candidate.kind !== 'planned').map((candidate) => candidate.name);
  if (variant === undefined) throw new Error(`unknown model "${name}"; available: ${available.join(', ')}`);
  if (variant.kind === 'planned') {
    throw new Error(`model "${name}" (${variant.description}) is not implemented yet: it needs ${variant.missing}; available: ${available.join(', ')}`);
  }
  return variant;
}
