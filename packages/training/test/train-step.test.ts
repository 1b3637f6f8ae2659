import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random } from '@mcm/common';
import { AdamW } from '../src/optimizer/adamw.ts';
import { createSampler } from '../src/samplers/batch-sampler.ts';
import { RANDOM_PREFIX_SAMPLER } from '../src/samplers/random-prefix-sampler.ts';
import '../src/samplers/builtin-samplers.ts';
import { NonFiniteLossError, trainStep, type StepOptions } from '../src/train-step.ts';
import { useCpuBackend } from './helpers/backend.ts';
import { fixtureData, PLANTED_VOCABULARIES, plantedPatternCustomers } from './helpers/dataset-fixture.ts';
import { StandInModel } from './helpers/stand-in-model.ts';

const ADAMW = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };

beforeAll(useCpuBackend);

function setup() {
  const data = fixtureData(plantedPatternCustomers(200, 5), PLANTED_VOCABULARIES);
  const sampler = createSampler(RANDOM_PREFIX_SAMPLER, data, {
    batchSize: 16,
    maxLength: 10,
    features: ['category', 'brand'],
    tasks: ['category', 'brand'],
    seed: 1,
    bucketBatches: 0,
  });
  const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
  const optimizer = new AdamW(model.variables, ADAMW);
  const options = (step: number): StepOptions => ({
    taskWeights: { category: 1, brand: 0.5 },
    learningRate: 0.01,
    clipNorm: 1,
    random: new Random(1),
    step,
  });
  return { sampler, model, optimizer, options };
}

describe('trainStep', () => {
  it('keeps the tensor count flat across steps', () => {
    const { sampler, model, optimizer, options } = setup();
    trainStep(model, optimizer, sampler.next(), options(1));
    const before = tf.memory().numTensors;
    for (let step = 2; step <= 12; step++) trainStep(model, optimizer, sampler.next(), options(step));
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    model.dispose();
  });

  it('returns the weighted sum of the task losses', () => {
    const { sampler, model, optimizer, options } = setup();
    const result = trainStep(model, optimizer, sampler.next(), options(1));
    expect(result.loss).toBeCloseTo(result.taskLosses.category! + 0.5 * result.taskLosses.brand!, 5);
    expect(result.gradientNorm).toBeGreaterThan(0);
    optimizer.dispose();
    model.dispose();
  });

  it('lowers the loss on a repeated batch', () => {
    const { sampler, model, optimizer, options } = setup();
    const batch = sampler.next();
    const first = trainStep(model, optimizer, batch, options(1)).loss;
    let last = first;
    for (let step = 2; step <= 30; step++) last = trainStep(model, optimizer, batch, options(step)).loss;
    expect(last).toBeLessThan(first * 0.8);
    optimizer.dispose();
    model.dispose();
  });

  it('stops on a NaN loss with the step and the customers, weights untouched', () => {
    const { sampler, model, optimizer, options } = setup();
    trainStep(model, optimizer, sampler.next(), options(1));
    const before = model.getWeights();
    const tensors = tf.memory().numTensors;
    model.poisonTask = 'brand';
    const batch = sampler.next();

    let error: unknown;
    try {
      trainStep(model, optimizer, batch, options(2));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(NonFiniteLossError);
    const nonFinite = error as NonFiniteLossError;
    expect(nonFinite.step).toBe(2);
    expect(nonFinite.customerIds).toEqual(batch.customerIds);
    expect(nonFinite.message).toContain('loss is not finite at step 2');
    expect(nonFinite.message).toContain(batch.customerIds[0]);
    expect(Number.isNaN(nonFinite.taskLosses.brand)).toBe(true);
    expect(optimizer.step).toBe(1);
    expect(tf.memory().numTensors).toBe(tensors);
    const after = model.getWeights();
    for (const name of Object.keys(before)) expect(after[name]!.values).toEqual(before[name]!.values);
    optimizer.dispose();
    model.dispose();
  });
});
