import { Random } from '@mcm/common';
import { beforeAll, describe, expect, test } from 'vitest';
import type { ModelOptions } from '../src/config.ts';
import { CustomerModel } from '../src/customer-model.ts';
import { buildSequenceBatch, randomHistories, tinyConfig, useCpuBackend } from './helpers.ts';

beforeAll(useCpuBackend);

/** Replaces the projection (identity at creation) and the bias (zero) of every task with random values. */
function randomizeTaskWeights(model: CustomerModel, seed: number): void {
  const random = new Random(seed);
  const weights = model.getWeights();
  for (const [name, weight] of Object.entries(weights)) {
    if (!name.startsWith('task/')) continue;
    weight.values = Float32Array.from(weight.values, () => random.normal() * 0.5);
  }
  model.setWeights(weights);
}

/** Row `id` of a [rows, hidden] weight, times the [hidden, hidden] projection when there is one. */
function candidateEmbedding(model: CustomerModel, task: string, id: number): number[] {
  const weights = model.getWeights();
  const hidden = model.config.hidden;
  const feature = model.config.tasks.find((t) => t.name === task)!.feature;
  const row = Array.from(weights[`embedding/${feature}`]!.values.subarray(id * hidden, (id + 1) * hidden));
  const projection = weights[`task/${task}/projection`];
  if (projection === undefined) return row;
  return Array.from({ length: hidden }, (_, k) => row.reduce((sum, x, j) => sum + x * projection.values[j * hidden + k]!, 0));
}

function dot(a: number[], b: number[]): number {
  return a.reduce((sum, x, k) => sum + x * b[k]!, 0);
}

const variants: Partial<ModelOptions>[] = [
  { candidateProjection: true, candidateBias: true },
  { candidateProjection: false, candidateBias: false },
];

describe.each(variants)('readout with %o', (options) => {
  test('attentional readout matches the formulas', () => {
    const config = tinyConfig({ readout: 'attentional', ...options });
    const model = CustomerModel.create(config, 21);
    randomizeTaskWeights(model, 5);
    const histories = randomHistories(config, 3, 41);
    const batch = buildSequenceBatch(config, histories, { length: 10 });

    const hiddenTensor = model.hiddenStates(batch);
    const hidden = hiddenTensor.arraySync();
    hiddenTensor.dispose();
    const scoresTensor = model.scores(batch, 'brand');
    const scores = scoresTensor.arraySync();
    scoresTensor.dispose();
    const bias = model.getWeights()['task/brand/bias']?.values;

    for (let b = 0; b < batch.batchSize; b++) {
      const positions = hidden[b]!.slice(0, batch.lengths[b]); // real positions only
      expect(scores[b]![0]).toBe(-Infinity);
      expect(scores[b]![1]).toBe(-Infinity);
      for (let w = 2; w < 7; w++) {
        const e = candidateEmbedding(model, 'brand', w);
        const logits = positions.map((h) => dot(e, h));
        const max = Math.max(...logits);
        const exps = logits.map((z) => Math.exp(z - max));
        const total = exps.reduce((sum, x) => sum + x, 0);
        const attention = exps.map((x) => x / total);
        const r = e.map((_, k) => positions.reduce((sum, h, i) => sum + attention[i]! * h[k]!, 0));
        const expected = dot(r, e) + (bias?.[w] ?? 0);

        expect(Math.abs(scores[b]![w]! - expected), `customer ${b}, candidate ${w}`).toBeLessThan(1e-5);
      }
    }
    model.dispose();
  });

  test('last-position readout matches the formula', () => {
    const config = tinyConfig({ readout: 'last-position', ...options });
    const model = CustomerModel.create(config, 22);
    randomizeTaskWeights(model, 6);
    const histories = randomHistories(config, 3, 43);
    const batch = buildSequenceBatch(config, histories, { length: 10 });

    const hiddenTensor = model.hiddenStates(batch);
    const hidden = hiddenTensor.arraySync();
    hiddenTensor.dispose();
    const scoresTensor = model.scores(batch, 'item');
    const scores = scoresTensor.arraySync();
    scoresTensor.dispose();
    const bias = model.getWeights()['task/item/bias']?.values;

    for (let b = 0; b < batch.batchSize; b++) {
      const last = hidden[b]![batch.lengths[b]! - 1]!;
      for (let w = 2; w < 13; w++) {
        const expected = dot(last, candidateEmbedding(model, 'item', w)) + (bias?.[w] ?? 0);
        expect(Math.abs(scores[b]![w]! - expected), `customer ${b}, candidate ${w}`).toBeLessThan(1e-5);
      }
    }
    model.dispose();
  });
});

test.each(['attentional', 'last-position'] as const)('%s projection side does not change scores', (readout) => {
  const config = tinyConfig({ readout });
  const model = CustomerModel.create(config, 23);
  randomizeTaskWeights(model, 7);
  const batch = buildSequenceBatch(config, randomHistories(config, 1, 47).map((events) => events.slice(0, 4)), { length: 4 });

  // 11 candidates outnumber the hidden rows (4 or 1), so the hidden states are projected;
  // one candidate does not, so the candidate is projected.
  const whole = model.scores(batch, 'item');
  const single = model.candidateScores(batch, 'item', Int32Array.from([5]));

  expect(Math.abs(whole.arraySync()[0]![5]! - single.arraySync()[0]![0]!)).toBeLessThan(1e-5);
  whole.dispose();
  single.dispose();
  model.dispose();
});
