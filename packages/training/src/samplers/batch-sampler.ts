import type { LabelLayout, SequenceBatch, TaskLabels } from '@mcm/model';
import type { ExampleRef } from '../batch.ts';
import type { TrainingData } from '../data/training-data.ts';

/** One training batch: the model input, the labels and where each example came from. */
export interface SampledBatch {
  examples: ExampleRef[];
  /** The customer id of each example, for logs and errors. */
  customerIds: string[];
  batch: SequenceBatch;
  labels: TaskLabels;
  /** `next` (default): labels are [B], the event after each history. `positions`: [B * T], a target per position. */
  labelLayout?: LabelLayout;
  /** The sampler's epoch (pass over the trainable customers) after drawing this batch, counted from 0. */
  epoch: number;
}

/** A sampler's position, as plain JSON so that a checkpoint can store it. */
export interface SamplerState {
  sampler: string;
  [key: string]: unknown;
}

export interface SamplerOptions {
  batchSize: number;
  /** Maximum history length of a model input; a longer prefix keeps its most recent events. */
  maxLength: number;
  /** Features of the model input. */
  features: readonly string[];
  /** Features whose next value is a label. */
  tasks: readonly string[];
  seed: number;
  /** Batches sorted by history length together; 0 or 1 turns length bucketing off. */
  bucketBatches: number;
  /** Share of events the Cloze sampler masks; default TRAINING_DEFAULTS.maskProbability. Other samplers ignore it. */
  maskProbability?: number;
}

/**
 * A training objective's way of turning customers into batches. Implementations draw
 * from the training events only and must restore their exact position from
 * `getState()`, so that a resumed run gets the same batches as an uninterrupted one.
 */
export interface BatchSampler {
  readonly name: string;
  next(): SampledBatch;
  getState(): SamplerState;
  setState(state: SamplerState): void;
}

export type SamplerFactory = (data: TrainingData, options: SamplerOptions) => BatchSampler;

const registry = new Map<string, SamplerFactory>();

/** Makes a sampler available to `createSampler` under `name`. */
export function registerSampler(name: string, factory: SamplerFactory): void {
  if (registry.has(name)) throw new Error(`a sampler named "${name}" is already registered`);
  registry.set(name, factory);
}

/** Names of the registered samplers, sorted. */
export function registeredSamplers(): string[] {
  return [...registry.keys()].sort();
}

/** Creates the sampler registered as `name`. */
export function createSampler(name: string, data: TrainingData, options: SamplerOptions): BatchSampler {
  const factory = registry.get(name);
  if (factory === undefined) {
    throw new Error(`unknown sampler "${name}"; registered samplers: ${registeredSamplers().join(', ')}`);
  }
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new Error(`batch size must be a positive integer, got ${options.batchSize}`);
  }
  if (!Number.isInteger(options.maxLength) || options.maxLength < 1) {
    throw new Error(`maxLength must be a positive integer, got ${options.maxLength}`);
  }
  if (!Number.isInteger(options.bucketBatches) || options.bucketBatches < 0) {
    throw new Error(`bucketBatches must be an integer >= 0, got ${options.bucketBatches}`);
  }
  return factory(data, options);
}
