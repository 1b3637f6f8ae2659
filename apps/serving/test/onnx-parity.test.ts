import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelConfig, CustomerModel, exportOnnxModel, initBackend, onnxScoreFeeds, type ModelConfig, type ModelOptions, type ModelWeights, type SequenceBatch } from '@mcm/model';
import { OnnxScoringModel } from '../src/onnx-scoring-model.ts';
import type { ScoringModel } from '../src/scoring-model.ts';
import { TfjsScoringModel } from '../src/tfjs-scoring-model.ts';
import { silentLogger } from './helpers/tiny-run.ts';

/**
 * Largest absolute difference allowed between onnxruntime's and tfjs's scores and
 * embeddings. Both compute in float32, but with other kernels and summation orders. The
 * largest difference measured on these models was 2e-6, on scores that spread over more
 * than 1.
 */
const TOLERANCE = 1e-4;

/** A seeded linear congruential generator, so every run tests the same numbers. */
function generator(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % n;
  };
}

/**
 * Three features, one multi-valued, and two tasks. initStd 0.3 makes scores differ by
 * O(1) between candidates, so a masking mistake shows far above float32 rounding.
 */
function parityConfig(options: Partial<ModelOptions>): ModelConfig {
  return createModelConfig({
    features: [
      { name: 'item', kind: 'single', vocabularySize: 40 },
      { name: 'brand', kind: 'single', vocabularySize: 9 },
      { name: 'tags', kind: 'multi', vocabularySize: 7 },
    ],
    tasks: [
      { name: 'item', feature: 'item', vocabularySize: 40 },
      { name: 'brand', feature: 'brand', vocabularySize: 9 },
    ],
    maxLength: 16,
    hidden: 16,
    heads: 4,
    layers: 2,
    ffnWidth: 32,
    dropout: 0,
    initStd: 0.3,
    ...options,
  });
}

/**
 * Returns the weights of a fresh model with the parameters that start at 0, 1 or the identity
 * (layer-norm gains and offsets, biases, projections) moved away from their start, so
 * that a layer the export leaves out changes the scores.
 */
function perturbedWeights(config: ModelConfig, seed: number): ModelWeights {
  const model = CustomerModel.create(config, seed);
  const weights = model.getWeights();
  model.dispose();
  const next = generator(seed);
  for (const [name, weight] of Object.entries(weights)) {
    if (!/(gamma|beta|bias|projection)$/.test(name)) continue;
    const center = name.endsWith('gamma') ? 1 : 0;
    const offset = () => (next(2001) - 1000) / 2500; // in [-0.4, 0.4]
    weight.values = weight.values.map((value) => (name.endsWith('projection') ? value : center) + offset());
  }
  return weights;
}

/** Random histories of 1 to `maxLength` events, with 0 to 3 tags per event, padded to `length` with `paddingId`. */
function randomBatch(config: ModelConfig, lengths: number[], seed: number, options: { length?: number; paddingId?: number } = {}): SequenceBatch {
  const next = generator(seed);
  const length = options.length ?? Math.max(...lengths);
  const width = 3;
  const features: SequenceBatch['features'] = {};
  for (const feature of config.features) {
    const slots = feature.kind === 'multi' ? width : 1;
    const ids = new Int32Array(lengths.length * length * slots).fill(options.paddingId ?? 0);
    lengths.forEach((n, b) => {
      for (let t = 0; t < n; t++) {
        const start = (b * length + t) * slots;
        const count = feature.kind === 'multi' ? next(slots + 1) : 1;
        for (let s = 0; s < slots; s++) ids[start + s] = s < count ? 1 + next(feature.vocabularySize - 1) : 0;
      }
    });
    features[feature.name] = { ids, width: slots };
  }
  return { batchSize: lengths.length, length, lengths: Int32Array.from(lengths), features };
}

/** Customer `b` of `batch` alone, without padding. */
function customerOf(batch: SequenceBatch, b: number): SequenceBatch {
  const n = batch.lengths[b]!;
  const features: SequenceBatch['features'] = {};
  for (const [name, { ids, width }] of Object.entries(batch.features)) {
    const start = b * batch.length * width;
    features[name] = { ids: ids.slice(start, start + n * width), width };
  }
  return { batchSize: 1, length: n, lengths: Int32Array.of(n), features };
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue; // equal infinities too
    max = Math.max(max, Math.abs(a[i]! - b[i]!));
  }
  return max;
}

async function loadBoth(config: ModelConfig, weights: ModelWeights): Promise<{ onnx: ScoringModel; tfjs: ScoringModel }> {
  const onnx = await OnnxScoringModel.load(ort, config, weights, { threads: 1, logger: silentLogger() });
  return { onnx, tfjs: TfjsScoringModel.load(config, weights) };
}

const variants: Array<{ name: string; options: Partial<ModelOptions> }> = [
  { name: 'attentional, bidirectional, post-LN', options: { readout: 'attentional' } },
  { name: 'attentional, causal', options: { readout: 'attentional', attention: 'causal' } },
  { name: 'attentional, pre-LN, from-first, mask token', options: { readout: 'attentional', normalization: 'pre', positions: 'from-first', maskToken: true } },
  { name: 'last-position, bidirectional', options: { readout: 'last-position' } },
  { name: 'last-position, causal, pre-LN, no projection or bias', options: { readout: 'last-position', attention: 'causal', normalization: 'pre', candidateProjection: false, candidateBias: false } },
  { name: 'last-position, masked inference', options: { readout: 'last-position', maskToken: true, maskedInference: true } },
];

beforeAll(async () => {
  await initBackend('wasm');
});

describe.each(variants)('onnxruntime matches tfjs: $name', ({ options }) => {
  const config = parityConfig(options);
  const weights = perturbedWeights(config, 17);
  let models: { onnx: ScoringModel; tfjs: ScoringModel };

  beforeAll(async () => {
    models = await loadBoth(config, weights);
  });

  afterAll(() => {
    models?.onnx.dispose();
    models?.tfjs.dispose();
  });

  // Four customers of 1 to 16 events, padded to 16: every row but the longest has padding.
  const batch = randomBatch(config, [5, 1, 16, 9], 3);

  it('scores of every task', async () => {
    for (const task of config.tasks) {
      const expected = await models.tfjs.scores(batch, task.name);
      const actual = await models.onnx.scores(batch, task.name);
      expect(actual.length).toBe(batch.batchSize * task.vocabularySize);
      expect(maxAbsDifference(actual, expected)).toBeLessThan(TOLERANCE);
      // The scores spread well beyond the tolerance, so the comparison means something.
      const finite = Array.from(expected).filter(Number.isFinite);
      expect(Math.max(...finite) - Math.min(...finite)).toBeGreaterThan(1);
    }
  });

  it('never ranks padding or out-of-vocabulary', async () => {
    const scores = await models.onnx.scores(batch, 'brand');
    for (let b = 0; b < batch.batchSize; b++) {
      expect(scores[b * 9]).toBe(-Infinity);
      expect(scores[b * 9 + 1]).toBe(-Infinity);
      expect(Number.isFinite(scores[b * 9 + 2]!)).toBe(true);
    }
  });

  it('customer embedding', async () => {
    const expected = await models.tfjs.embed(batch);
    const actual = await models.onnx.embed(batch);
    expect(actual.length).toBe(batch.batchSize * config.hidden);
    expect(maxAbsDifference(actual, expected)).toBeLessThan(TOLERANCE);
  });

  it('ignores the padding', async () => {
    const padded = randomBatch(config, [5, 1, 16, 9], 3, { paddingId: 3 });
    const alone = customerOf(batch, 0);
    const scoresPadded = await models.onnx.scores(padded, 'item');
    const scoresAlone = await models.onnx.scores(alone, 'item');
    expect(maxAbsDifference(scoresPadded, await models.onnx.scores(batch, 'item'))).toBeLessThan(1e-5);
    expect(maxAbsDifference(scoresPadded.subarray(0, 40), scoresAlone)).toBeLessThan(1e-5);
  });
});

describe('parity check', () => {
  it('fails when the padding mask is dropped', async () => {
    const config = parityConfig({ readout: 'attentional' });
    const weights = perturbedWeights(config, 17);
    const tfjs = TfjsScoringModel.load(config, weights);
    const session = await ort.InferenceSession.create(exportOnnxModel(config, weights));
    try {
      const batch = randomBatch(config, [5, 1, 16, 9], 3);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, feed] of Object.entries(onnxScoreFeeds(config, batch))) {
        // A graph that ignored the key mask would see every position as real.
        const data = name === 'key_mask' ? new Float32Array(feed.data.length) : feed.data;
        feeds[name] = new ort.Tensor(feed.type, data, feed.dims);
      }
      const unmasked = (await session.run(feeds, ['scores/item']))['scores/item']!.data as Float32Array;
      expect(maxAbsDifference(unmasked, await tfjs.scores(batch, 'item'))).toBeGreaterThan(100 * TOLERANCE);
    } finally {
      await session.release();
      tfjs.dispose();
    }
  });
});
