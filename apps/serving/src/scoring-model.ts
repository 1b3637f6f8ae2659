import type { ModelConfig, SequenceBatch } from '@mcm/model';

/** The runtimes that can run a checkpoint. */
export type EngineName = 'onnx' | 'tfjs';

/**
 * A loaded checkpoint that requests score with, on one engine. Both engines validate the
 * batch with `prepareBatch` and return the same numbers within float32 rounding.
 */
export interface ScoringModel {
  readonly engine: EngineName;
  readonly config: ModelConfig;
  /** Scores every candidate of `task`: [B, vocabularySize] row-major; ids 0 and 1 are -Infinity. */
  scores(batch: SequenceBatch, task: string): Promise<Float32Array>;
  /** Returns the customer embeddings, [B, hidden] row-major. */
  embed(batch: SequenceBatch): Promise<Float32Array>;
  /** Frees the model; it must not be used afterwards. Safe to call twice. */
  dispose(): void;
}

/** Returns a history of one event with every feature out-of-vocabulary, the input of a warm-up pass. */
export function warmUpBatch(config: ModelConfig): SequenceBatch {
  const features: SequenceBatch['features'] = {};
  for (const feature of config.features) features[feature.name] = { ids: new Int32Array([1]), width: 1 };
  return { batchSize: 1, length: 1, lengths: new Int32Array([1]), features };
}

/** Throws the error CustomerModel gives for an unknown task. */
export function assertTask(config: ModelConfig, task: string): void {
  if (!config.tasks.some((candidate) => candidate.name === task)) {
    throw new Error(`task "${task}" is not a task of this model (${config.tasks.map((t) => t.name).join(', ')})`);
  }
}
