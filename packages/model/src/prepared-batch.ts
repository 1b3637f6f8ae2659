import type { ModelConfig } from './config.ts';
import { tableRows } from './config.ts';
import type { SequenceBatch } from './sequence-batch.ts';

/**
 * Additive mask value for positions that must get no attention. Large and finite rather
 * than -Infinity: exp() of it is exactly 0 in float32, and a sum of two of them (key mask
 * plus causal mask) stays finite, so no softmax computes inf - inf = NaN.
 */
export const MASKED_LOGIT = -1e9;

/** The ids of one feature with the weight each id gets in the position's average. */
export interface PreparedFeature {
  name: string;
  /** [B * T * width] */
  ids: Int32Array;
  width: number;
  /**
   * [B * T * width] weight of each id in the embedding average. It is 1 / (non-zero slots
   * of the feature at the position x features present at the position). It is 0 for id 0
   * and for every slot of a padding position.
   */
  weights: Float32Array;
}

/**
 * A validated `SequenceBatch` with everything the model derives from `lengths` computed
 * once in JavaScript, so that masks enter the graph as constant float multiplications and
 * additions (tfjs 4.22 has no gradient through comparisons such as Greater).
 */
export interface PreparedBatch {
  batchSize: number;
  length: number;
  lengths: Int32Array;
  features: PreparedFeature[];
  /** [B * T] row of the position table for each position (0 at padding). */
  positionIds: Int32Array;
  /** [B * T] 0 at real positions, MASKED_LOGIT at padding. */
  keyMask: Float32Array;
  /** [B * T] 1 / lengths[b] at real positions, 0 at padding: weights of the mean over positions. */
  meanWeights: Float32Array;
  /** [B] index of each sequence's most recent event in the flattened [B * T] positions. */
  lastIndices: Int32Array;
}

/** Validates `batch` against `config` and derives masks, weights and position ids. */
export function prepareBatch(config: ModelConfig, batch: SequenceBatch): PreparedBatch {
  const { batchSize, length, lengths } = batch;
  validateShape(config, batch);

  const positionIds = new Int32Array(batchSize * length);
  const keyMask = new Float32Array(batchSize * length).fill(MASKED_LOGIT);
  const meanWeights = new Float32Array(batchSize * length);
  const lastIndices = new Int32Array(batchSize);
  for (let b = 0; b < batchSize; b++) {
    const n = lengths[b]!;
    for (let t = 0; t < n; t++) {
      const i = b * length + t;
      positionIds[i] = config.positions === 'from-last' ? n - 1 - t : t;
      keyMask[i] = 0;
      meanWeights[i] = 1 / n;
    }
    lastIndices[b] = b * length + n - 1;
  }

  const features = config.features.map((feature) => {
    const { ids, width } = batch.features[feature.name]!;
    return { name: feature.name, ids, width, weights: slotWeights(ids, width, batchSize, length, lengths) };
  });
  divideByFeaturesPresent(features, batchSize * length);

  return { batchSize, length, lengths, features, positionIds, keyMask, meanWeights, lastIndices };
}

/** Returns, for each slot, 1 / (non-zero slots at its position), or 0 for id 0 and padding positions. */
function slotWeights(ids: Int32Array, width: number, batchSize: number, length: number, lengths: Int32Array): Float32Array {
  const weights = new Float32Array(ids.length);
  for (let b = 0; b < batchSize; b++) {
    for (let t = 0; t < lengths[b]!; t++) {
      const start = (b * length + t) * width;
      let present = 0;
      for (let s = 0; s < width; s++) if (ids[start + s] !== 0) present++;
      if (present === 0) continue;
      for (let s = 0; s < width; s++) if (ids[start + s] !== 0) weights[start + s] = 1 / present;
    }
  }
  return weights;
}

/**
 * Turns the per-feature slot weights into weights of the average over the features that
 * have a value at the position, so a missing value (id 0 at a real event) neither adds a
 * vector nor shrinks the others.
 */
function divideByFeaturesPresent(features: PreparedFeature[], positions: number): void {
  const present = new Int32Array(positions);
  for (const feature of features) {
    for (let p = 0; p < positions; p++) {
      for (let s = 0; s < feature.width; s++) {
        if (feature.weights[p * feature.width + s] !== 0) {
          present[p]! += 1;
          break;
        }
      }
    }
  }
  for (const feature of features) {
    for (let i = 0; i < feature.weights.length; i++) {
      const count = present[Math.floor(i / feature.width)]!;
      if (count > 1) feature.weights[i]! /= count;
    }
  }
}

function validateShape(config: ModelConfig, batch: SequenceBatch): void {
  const { batchSize, length, lengths } = batch;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize ${batchSize} must be a positive integer`);
  if (!Number.isInteger(length) || length < 1) throw new Error(`batch length ${length} must be a positive integer`);
  if (lengths.length !== batchSize) {
    throw new Error(`lengths has ${lengths.length} entries but batchSize is ${batchSize}`);
  }
  for (let b = 0; b < batchSize; b++) {
    const n = lengths[b]!;
    if (n < 1 || n > length) throw new Error(`sequence ${b} has length ${n}, outside 1..${length} (the batch length)`);
    if (n > config.maxLength) {
      throw new Error(`sequence ${b} has length ${n}, which exceeds maxLength ${config.maxLength}`);
    }
  }

  for (const feature of config.features) {
    const column = batch.features[feature.name];
    if (column === undefined) {
      throw new Error(`batch has no ids for input feature "${feature.name}"; build it with every feature of the model config`);
    }
    const { ids, width } = column;
    if (feature.kind === 'single' && width !== 1) {
      throw new Error(`feature "${feature.name}" is single-valued but the batch gives it width ${width}`);
    }
    if (!Number.isInteger(width) || width < 1) throw new Error(`feature "${feature.name}" has width ${width}; expected at least 1`);
    if (ids.length !== batchSize * length * width) {
      throw new Error(
        `feature "${feature.name}" has ${ids.length} ids; expected batchSize x length x width = ${batchSize * length * width}`,
      );
    }
    const rows = tableRows(config, feature);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id < 0 || id >= rows) {
        const position = Math.floor(i / width);
        throw new Error(
          `feature "${feature.name}" has id ${id} at sequence ${Math.floor(position / length)}, position ${position % length}, ` +
            `outside its table of ${rows} rows`,
        );
      }
    }
  }
}
