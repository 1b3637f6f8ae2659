import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random } from '@mcm/common';
import { CustomerModel, modelConfigFromManifest } from '@mcm/model';
import type { ExampleRef } from '../src/batch.ts';
import { computeMicroBatchGradients, labelCounts, microBatches, planMicroBatches } from '../src/micro-batches.ts';
import { AdamW } from '../src/optimizer/adamw.ts';
import { createSampler } from '../src/samplers/batch-sampler.ts';
import { CAUSAL_SAMPLER } from '../src/samplers/causal-sampler.ts';
import { CLOZE_SAMPLER } from '../src/samplers/cloze-sampler.ts';
import { RANDOM_PREFIX_SAMPLER } from '../src/samplers/random-prefix-sampler.ts';
import '../src/samplers/builtin-samplers.ts';
import { computeGradients, disposeGradients, trainStep } from '../src/train-step.ts';
import { useCpuBackend } from './helpers/backend.ts';
import { fixtureData, PLANTED_VOCABULARIES, plantedPatternCustomers } from './helpers/dataset-fixture.ts';
import { StandInModel } from './helpers/stand-in-model.ts';

beforeAll(useCpuBackend);

const WEIGHTS = { category: 1, brand: 0.5 };

function sampledBatch() {
  const data = fixtureData(plantedPatternCustomers(200, 5), PLANTED_VOCABULARIES);
  const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, {
    batchSize: 16,
    maxLength: 10,
    features: ['category', 'brand'],
    tasks: ['category', 'brand'],
    seed: 3,
    bucketBatches: 0,
  });
  return sampler.next();
}

function refOfLength(length: number): ExampleRef {
  return { shard: undefined as never, customer: 0, start: 0, end: length };
}

describe('planMicroBatches', () => {
  it('cuts runs at rows x length^2', () => {
    const runs = planMicroBatches([3, 3, 4, 2, 5, 1].map(refOfLength), 40);
    // 3,3 -> 2 x 9 = 18; adding 4 -> 3 x 16 = 48 > 40; 4,2 -> 32; adding 5 -> 75 > 40;
    // 5 -> 25; adding 1 -> 2 x 25 = 50 > 40.
    expect(runs.map((run) => run.map((ref) => ref.end))).toEqual([[3, 3], [4, 2], [5], [1]]);
  });

  it('keeps an example above the limit alone', () => {
    const runs = planMicroBatches([10, 2].map(refOfLength), 50);
    expect(runs.map((run) => run.length)).toEqual([1, 1]);
  });

  it('keeps a batch within the limit whole', () => {
    expect(planMicroBatches([2, 2, 2].map(refOfLength), 1_000)).toHaveLength(1);
  });
});

describe('computeMicroBatchGradients', () => {
  it('equals the whole batch gradient', () => {
    const sampled = sampledBatch();
    const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
    const whole = computeGradients(model, sampled, { taskWeights: WEIGHTS, random: new Random(1) });
    const runs = planMicroBatches(sampled.examples, 60);
    expect(runs.length).toBeGreaterThan(2);
    const parts = computeMicroBatchGradients(model, microBatches(sampled, runs, ['category', 'brand']), 'next', WEIGHTS, new Random(1));

    expect(parts.loss).toBeCloseTo(whole.loss, 5);
    expect(parts.taskLosses.category).toBeCloseTo(whole.taskLosses.category!, 5);
    expect(parts.taskLosses.brand).toBeCloseTo(whole.taskLosses.brand!, 5);
    expect([...parts.gradients.keys()].sort()).toEqual([...whole.gradients.keys()].sort());
    for (const [name, gradient] of whole.gradients) {
      const expected = gradient.dataSync();
      const actual = parts.gradients.get(name)!.dataSync();
      for (let i = 0; i < expected.length; i++) expect(actual[i]).toBeCloseTo(expected[i]!, 5);
    }

    disposeGradients(whole.gradients);
    disposeGradients(parts.gradients);
    model.dispose();
  });

  it('leaves the generator where one pass does', () => {
    const sampled = sampledBatch();
    const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
    const wholeRandom = new Random(5);
    const partsRandom = new Random(5);
    disposeGradients(computeGradients(model, sampled, { taskWeights: WEIGHTS, random: wholeRandom }).gradients);
    disposeGradients(computeMicroBatchGradients(model, microBatches(sampled, planMicroBatches(sampled.examples, 60), ['category', 'brand']), 'next', WEIGHTS, partsRandom).gradients);
    expect(partsRandom.getState()).toEqual(wholeRandom.getState());
    model.dispose();
  });
});

describe('trainStep with micro-batches', () => {
  it('updates the weights as one batch does', () => {
    const sampled = sampledBatch();
    const results = [Infinity, 60].map((maxBatchCells) => {
      const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
      const optimizer = new AdamW(model.variables, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 });
      const step = trainStep(model, optimizer, sampled, { taskWeights: WEIGHTS, learningRate: 0.01, clipNorm: 1, random: new Random(1), step: 1, maxBatchCells });
      const weights = model.getWeights();
      optimizer.dispose();
      model.dispose();
      return { step, weights };
    });

    const [whole, parts] = results;
    expect(parts!.step.loss).toBeCloseTo(whole!.step.loss, 5);
    expect(parts!.step.gradientNorm).toBeCloseTo(whole!.step.gradientNorm, 5);
    for (const [name, { values }] of Object.entries(whole!.weights)) {
      const actual = parts!.weights[name]!.values;
      for (let i = 0; i < values.length; i++) expect(actual[i]).toBeCloseTo(values[i]!, 5);
    }
  });

  it('keeps the tensor count flat', () => {
    const sampled = sampledBatch();
    const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
    const optimizer = new AdamW(model.variables, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 });
    const options = { taskWeights: WEIGHTS, learningRate: 0.01, clipNorm: 1, random: new Random(1), step: 1, maxBatchCells: 60 };
    trainStep(model, optimizer, sampled, options);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) trainStep(model, optimizer, sampled, options);
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    model.dispose();
  });
});

describe('labelCounts', () => {
  it('counts labels other than padding', () => {
    expect(labelCounts({ category: Int32Array.from([0, 2, 3]) }, ['category'])).toEqual({ category: 2 });
  });
});

describe('micro-batches with per-position labels', () => {
  for (const sampler of [CAUSAL_SAMPLER, CLOZE_SAMPLER]) {
    it(`${sampler}: update the weights as one batch does`, () => {
      const data = fixtureData(plantedPatternCustomers(200, 5), PLANTED_VOCABULARIES);
      const sampled = createSampler(sampler, data, { batchSize: 16, maxLength: 10, features: ['category', 'brand'], tasks: ['category', 'brand'], seed: 3, bucketBatches: 0 }).next();
      expect(sampled.labelLayout).toBe('positions');
      const config = modelConfigFromManifest(data.manifest, {
        maxLength: 10,
        hidden: 8,
        layers: 1,
        heads: 2,
        ffnWidth: 16,
        dropout: 0,
        readout: 'last-position',
        attention: sampler === CAUSAL_SAMPLER ? 'causal' : 'bidirectional',
        maskToken: sampler === CLOZE_SAMPLER,
      });

      const results = [Infinity, 200].map((maxBatchCells) => {
        const model = CustomerModel.create(config, 2);
        const optimizer = new AdamW(model.variables, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 });
        const step = trainStep(model, optimizer, sampled, { taskWeights: WEIGHTS, learningRate: 0.01, clipNorm: 1, random: new Random(1), step: 1, maxBatchCells });
        const weights = model.getWeights();
        optimizer.dispose();
        model.dispose();
        return { step, weights };
      });

      expect(planMicroBatches(sampled.examples, 200).length, 'the batch is cut').toBeGreaterThan(2);
      const [whole, parts] = results;
      expect(parts!.step.loss).toBeCloseTo(whole!.step.loss, 5);
      expect(parts!.step.taskLosses.brand).toBeCloseTo(whole!.step.taskLosses.brand!, 5);
      expect(parts!.step.gradientNorm).toBeCloseTo(whole!.step.gradientNorm, 5);
      for (const [name, { values }] of Object.entries(whole!.weights)) {
        const actual = parts!.weights[name]!.values;
        for (let i = 0; i < values.length; i++) expect(actual[i], name).toBeCloseTo(values[i]!, 5);
      }
    });
  }
});
