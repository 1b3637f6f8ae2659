import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { beforeAll, describe, expect, test } from 'vitest';
import { CustomerModel } from '../src/customer-model.ts';
import { buildSequenceBatch, randomHistories, tinyConfig, useCpuBackend } from './helpers.ts';

beforeAll(useCpuBackend);

describe.each(['attentional', 'last-position'] as const)('%s tensor count', (readout) => {
  // Item (13 ids) takes the sampled path, brand the full one; dropout draws masks.
  const config = tinyConfig({ readout, dropout: 0.1, attentionDropout: 0.1, sampledSoftmaxThreshold: 8, sampledNegatives: 4 });
  const batch = buildSequenceBatch(config, randomHistories(config, 4, 61), { length: 11 });
  const labels = { item: Int32Array.from([3, 1, 0, 12]), brand: Int32Array.from([2, 6, 3, 0]) };

  test('stays flat over loss and gradient steps', () => {
    const model = CustomerModel.create(config, 3);
    const variables = [...model.variables.values()];
    const random = new Random(5);
    const optimizer = tf.train.adam(0.01);
    const step = () =>
      optimizer.minimize(() => tf.addN(Object.values(model.taskLosses(batch, labels, { training: true, random }))) as tf.Scalar, false, variables);

    step(); // Adam creates its moment variables on the first step.
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors, 'after optimizer steps').toBe(before);

    for (let i = 0; i < 5; i++) {
      tf.tidy(() => {
        const total = () => tf.addN(Object.values(model.taskLosses(batch, labels, { training: true, random }))) as tf.Scalar;
        tf.variableGrads(total, variables);
      });
    }
    expect(tf.memory().numTensors, 'after gradient computations').toBe(before);

    optimizer.dispose();
    model.dispose();
  });

  test('stays flat over scoring and embedding', () => {
    const model = CustomerModel.create(config, 3);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      model.scores(batch, 'item', { chunkSize: 4 }).dispose();
      model.candidateScores(batch, 'brand', Int32Array.from([2, 3])).dispose();
      model.embed(batch).dispose();
      model.hiddenStates(batch).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

test('dispose frees every variable', () => {
  const before = tf.memory().numTensors;
  const model = CustomerModel.create(tinyConfig(), 1);
  expect(tf.memory().numTensors).toBe(before + model.variables.size);
  model.dispose();
  model.dispose();
  expect(tf.memory().numTensors).toBe(before);
});
