import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { beforeAll, describe, expect, test } from 'vitest';
import { LogUniformSampler } from '../src/candidate-sampler.ts';
import { CustomerModel } from '../src/customer-model.ts';
import type { SequenceBatch, TaskLabels } from '../src/sequence-batch.ts';
import { buildSequenceBatch, randomHistories, tinyConfig, useCpuBackend } from './helpers.ts';

beforeAll(useCpuBackend);

const ITEM_VOCABULARY = 13;

function logSumExp(values: number[]): number {
  const max = Math.max(...values);
  return max + Math.log(values.reduce((sum, v) => sum + Math.exp(v - max), 0));
}

/** Scores of candidates `ids` of the item task, [B][ids.length], from the model's readout. */
function itemScores(model: CustomerModel, batch: SequenceBatch, ids: number[]): number[][] {
  const tensor = model.candidateScores(batch, 'item', Int32Array.from(ids));
  const values = tensor.arraySync();
  tensor.dispose();
  return values;
}

function lossOf(model: CustomerModel, batch: SequenceBatch, labels: TaskLabels, training: boolean, seed: number): number {
  return tf.tidy(() => model.taskLosses(batch, labels, { training, random: new Random(seed) }).item!.dataSync()[0]!);
}

/** Mean full-softmax cross-entropy over ids 1..V-1, computed from candidate scores; label 0 rows skipped. */
function fullCrossEntropy(model: CustomerModel, batch: SequenceBatch, labels: Int32Array): number {
  const ids = Array.from({ length: ITEM_VOCABULARY - 1 }, (_, i) => i + 1);
  const scores = itemScores(model, batch, ids);
  let total = 0;
  let counted = 0;
  labels.forEach((label, b) => {
    if (label === 0) return;
    total += logSumExp(scores[b]!) - scores[b]![label - 1]!;
    counted++;
  });
  return total / counted;
}

describe('full softmax', () => {
  const config = tinyConfig();
  const histories = randomHistories(config, 5, 31);
  const batch = buildSequenceBatch(config, histories);
  // Row 2 is unlabelled, row 1 is out-of-vocabulary (an ordinary class in training).
  const labels = { item: Int32Array.from([4, 1, 0, 12, 2]), brand: Int32Array.from([2, 3, 4, 5, 6]) };

  test('training loss below the threshold equals full cross-entropy', () => {
    const model = CustomerModel.create(config, 4);
    expect(lossOf(model, batch, labels, true, 1)).toBeCloseTo(fullCrossEntropy(model, batch, labels.item), 5);
    model.dispose();
  });

  test('evaluation loss above the threshold equals full cross-entropy', () => {
    const model = CustomerModel.create(tinyConfig({ sampledSoftmaxThreshold: 4 }), 4);
    expect(lossOf(model, batch, labels, false, 1)).toBeCloseTo(fullCrossEntropy(model, batch, labels.item), 5);
    model.dispose();
  });

  test('all labels 0 give a zero loss', () => {
    const model = CustomerModel.create(config, 4);
    const unlabelled = { item: new Int32Array(5), brand: labels.brand };
    expect(Math.abs(lossOf(model, batch, unlabelled, true, 1))).toBe(0);
    model.dispose();
  });
});

describe('sampled softmax', () => {
  // Item (13 ids) is above the threshold and brand (7) below. Dropout 0 draws no seeds, so
  // the only draws from `random` are the item task's negatives.
  const negatives = 6;
  const config = tinyConfig({ sampledSoftmaxThreshold: 8, sampledNegatives: negatives });
  const histories = randomHistories(config, 4, 37);
  const batch = buildSequenceBatch(config, histories);
  const seed = 77;
  const sample = new LogUniformSampler(ITEM_VOCABULARY).sample(new Random(seed), negatives);
  const sampledIds = Array.from(sample.ids);
  // Customer 0's positive is among the negatives: an accidental hit.
  const labels = { item: Int32Array.from([sampledIds[0]!, 7, 0, 12]), brand: Int32Array.from([2, 3, 4, 5]) };

  function handLoss(model: CustomerModel, removeHits: boolean): number {
    const positives = itemScores(model, batch, Array.from(labels.item, (label) => Math.max(label, 1)));
    const scores = itemScores(model, batch, sampledIds);
    let total = 0;
    let counted = 0;
    labels.item.forEach((label, b) => {
      if (label === 0) return;
      const logits = [positives[b]![b]!];
      sampledIds.forEach((id, j) => {
        if (removeHits && id === label) return;
        logits.push(scores[b]![j]! - Math.log(negatives * new LogUniformSampler(ITEM_VOCABULARY).probability(id)));
      });
      total += logSumExp(logits) - logits[0]!;
      counted++;
    });
    return total / counted;
  }

  test('loss applies the log-Q correction and removes accidental hits', () => {
    const model = CustomerModel.create(config, 8);
    const loss = lossOf(model, batch, labels, true, seed);

    expect(loss).toBeCloseTo(handLoss(model, true), 5);
    expect(Math.abs(loss - handLoss(model, false))).toBeGreaterThan(1e-3);
    expect(Math.abs(loss - fullCrossEntropy(model, batch, labels.item))).toBeGreaterThan(1e-3);
    model.dispose();
  });

  test('other tasks keep the full softmax', () => {
    const sampled = CustomerModel.create(config, 8);
    const full = CustomerModel.create(tinyConfig(), 8);
    const brandLoss = (model: CustomerModel) =>
      tf.tidy(() => model.taskLosses(batch, labels, { training: true, random: new Random(seed) }).brand!.dataSync()[0]!);

    expect(brandLoss(sampled)).toBeCloseTo(brandLoss(full), 6);
    sampled.dispose();
    full.dispose();
  });
});

describe('log-uniform sampler', () => {
  const sampler = new LogUniformSampler(50);

  test('probabilities sum to one over ids 1..V-1', () => {
    let total = 0;
    for (let id = 1; id < 50; id++) total += sampler.probability(id);
    expect(total).toBeCloseTo(1, 10);
    expect(sampler.probability(0)).toBe(0);
    expect(sampler.probability(50)).toBe(0);
  });

  test('draw frequencies follow the probabilities', () => {
    const draws = 200_000;
    const { ids, logExpectedCounts } = sampler.sample(new Random(3), draws);
    const counts = new Array<number>(50).fill(0);
    for (const id of ids) counts[id]! += 1;

    expect(counts[0]).toBe(0);
    for (const id of [1, 2, 5, 20, 49]) {
      const expected = draws * sampler.probability(id);
      expect(Math.abs(counts[id]! - expected), `id ${id}`).toBeLessThan(5 * Math.sqrt(expected));
    }
    expect(logExpectedCounts[0]).toBeCloseTo(Math.log(draws * sampler.probability(ids[0]!)), 5);
  });
});
