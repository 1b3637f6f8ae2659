import { maskTokenId, type ModelConfig } from './config.ts';
import type { SequenceBatch } from './sequence-batch.ts';

/**
 * Returns `batch` with one mask event appended after each history: every feature's mask
 * token id in the first slot, padding in the others. A history that already has
 * `config.maxLength` events drops its oldest one, so the result still fits the position
 * table. This is how a Cloze-trained model is asked for the next event: the last-position
 * readout then reads the mask event.
 */
export function appendMaskEvent(config: ModelConfig, batch: SequenceBatch): SequenceBatch {
  const { batchSize, length, lengths } = batch;

  const newLengths = new Int32Array(batchSize);
  const dropped = new Int32Array(batchSize); // oldest events left out of each row
  for (let b = 0; b < batchSize; b++) {
    const keptEvents = Math.min(lengths[b]!, config.maxLength - 1);
    dropped[b] = lengths[b]! - keptEvents;
    newLengths[b] = keptEvents + 1;
  }
  let newLength = 0;
  for (const n of newLengths) newLength = Math.max(newLength, n);

  const features: SequenceBatch['features'] = {};
  for (const feature of config.features) {
    const { ids, width } = batch.features[feature.name]!;
    const out = new Int32Array(batchSize * newLength * width); // [B, T', width]
    const mask = maskTokenId(config, feature.name);
    for (let b = 0; b < batchSize; b++) {
      const keptEvents = newLengths[b]! - 1;
      const from = (b * length + dropped[b]!) * width;
      out.set(ids.subarray(from, from + keptEvents * width), b * newLength * width);
      out[(b * newLength + keptEvents) * width] = mask;
    }
    features[feature.name] = { ids: out, width };
  }

  return { batchSize, length: newLength, lengths: newLengths, features };
}

/**
 * Returns the batch that scoring reads: `batch` with a mask event appended when
 * `config.maskedInference` is set, else `batch` itself. CustomerModel.scores and the
 * ONNX feeds both call it, so the two engines score the same input.
 */
export function scoringBatch(config: ModelConfig, batch: SequenceBatch): SequenceBatch {
  return config.maskedInference ? appendMaskEvent(config, batch) : batch;
}
