import type { ModelConfig } from '../config.ts';
import { scoringBatch } from '../masked-inference.ts';
import { prepareBatch, type PreparedBatch } from '../prepared-batch.ts';
import type { SequenceBatch } from '../sequence-batch.ts';
import type { DimensionSpec } from './graph-builder.ts';

/** One input tensor of the exported graph, ready for onnxruntime's Tensor constructor. */
export interface OnnxFeed {
  type: 'int32' | 'float32';
  data: Int32Array | Float32Array;
  dims: number[];
}

/** One input of the exported graph: its name, type, shape and where its values come from in a prepared batch. */
export interface OnnxInputSpec {
  name: string;
  type: OnnxFeed['type'];
  /** Dimension names are dynamic: "batch" (B), "length" (T), "width/<feature>" (W). */
  shape: DimensionSpec[];
  docString: string;
  feed(batch: PreparedBatch): OnnxFeed;
}

/** Names of the exported graph's inputs. */
export const ONNX_INPUT = {
  ids: (feature: string) => `ids/${feature}`,
  weights: (feature: string) => `weights/${feature}`,
  positionIds: 'position_ids',
  keyMask: 'key_mask',
  meanWeights: 'mean_weights',
  lastIndices: 'last_indices',
} as const;

/** Names of the exported graph's outputs. */
export const ONNX_OUTPUT = {
  /** [B, vocabularySize] scores of every candidate of a task; ids 0 and 1 get -Infinity, as CustomerModel.scores. */
  scores: (task: string) => `scores/${task}`,
  /** [B, hidden] the customer embedding, as CustomerModel.embed. */
  embedding: 'embedding',
} as const;

/**
 * Lists the graph inputs for `config`. They are the arrays `prepareBatch` derives for
 * tfjs, so both engines read one input preparation. They contain per-feature ids and
 * their averaging weights, position ids, the additive key mask and the weights of the
 * mean over positions. The last-position readout adds each history's most recent event.
 */
export function onnxInputSpecs(config: ModelConfig): OnnxInputSpec[] {
  const specs: OnnxInputSpec[] = [];
  for (const [index, feature] of config.features.entries()) {
    const width = `width/${feature.name}`;
    specs.push({
      name: ONNX_INPUT.ids(feature.name),
      type: 'int32',
      shape: ['batch', 'length', width],
      docString: `vocabulary ids of feature "${feature.name}", 0 for padding and empty slots`,
      feed: (batch) => ({ type: 'int32', data: batch.features[index]!.ids, dims: [batch.batchSize, batch.length, batch.features[index]!.width] }),
    });
    specs.push({
      name: ONNX_INPUT.weights(feature.name),
      type: 'float32',
      shape: ['batch', 'length', width],
      docString: `weight of each id of feature "${feature.name}" in the average of its position, 0 at padding`,
      feed: (batch) => ({ type: 'float32', data: batch.features[index]!.weights, dims: [batch.batchSize, batch.length, batch.features[index]!.width] }),
    });
  }

  specs.push({
    name: ONNX_INPUT.positionIds,
    type: 'int32',
    shape: ['batch', 'length'],
    docString: 'row of the position table at each position, 0 at padding',
    feed: (batch) => ({ type: 'int32', data: batch.positionIds, dims: [batch.batchSize, batch.length] }),
  });
  specs.push({
    name: ONNX_INPUT.keyMask,
    type: 'float32',
    shape: ['batch', 'length'],
    docString: 'additive attention mask: 0 at real positions, -1e9 at padding',
    feed: (batch) => ({ type: 'float32', data: batch.keyMask, dims: [batch.batchSize, batch.length] }),
  });
  specs.push({
    name: ONNX_INPUT.meanWeights,
    type: 'float32',
    shape: ['batch', 'length'],
    docString: '1 / length at real positions, 0 at padding: the mean over positions of the embedding output',
    feed: (batch) => ({ type: 'float32', data: batch.meanWeights, dims: [batch.batchSize, batch.length] }),
  });
  if (config.readout === 'last-position') {
    specs.push({
      name: ONNX_INPUT.lastIndices,
      type: 'int32',
      shape: ['batch'],
      docString: "index of each history's most recent event in the flattened [batch * length] positions",
      feed: (batch) => ({ type: 'int32', data: batch.lastIndices, dims: [batch.batchSize] }),
    });
  }
  return specs;
}

/**
 * Validates `batch` and returns the feeds for the `scores/<task>` outputs, by input name:
 * the batch as CustomerModel.scores reads it, with the mask event appended when
 * `config.maskedInference` is set.
 */
export function onnxScoreFeeds(config: ModelConfig, batch: SequenceBatch): Record<string, OnnxFeed> {
  return feedsOf(config, prepareBatch(config, scoringBatch(config, batch)));
}

/** Validates `batch` and returns the feeds for the `embedding` output, as CustomerModel.embed reads the batch. */
export function onnxEmbeddingFeeds(config: ModelConfig, batch: SequenceBatch): Record<string, OnnxFeed> {
  return feedsOf(config, prepareBatch(config, batch));
}

function feedsOf(config: ModelConfig, prepared: PreparedBatch): Record<string, OnnxFeed> {
  return Object.fromEntries(onnxInputSpecs(config).map((spec) => [spec.name, spec.feed(prepared)]));
}
