import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { CustomerModel } from '../src/customer-model.ts';
import { initBackend } from '../src/engine/index.ts';
import { buildSequenceBatch, maxAbsDifference, randomHistories, tinyConfig } from './helpers.ts';

// Item (13 ids) takes the sampled path and brand the full one, so both losses run on wasm.
const config = tinyConfig({ sampledSoftmaxThreshold: 8, sampledNegatives: 4, dropout: 0.1 });
const histories = randomHistories(config, 4, 71);
const labels = { item: Int32Array.from([3, 1, 0, 12]), brand: Int32Array.from([2, 6, 3, 4]) };

beforeAll(async () => {
  await initBackend('wasm');
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

function scoresOn(model: CustomerModel, length: number): Float32Array {
  const tensor = model.scores(buildSequenceBatch(config, histories, { length }), 'item');
  const values = tensor.dataSync() as Float32Array;
  tensor.dispose();
  return values;
}

test('wasm training step keeps padding rows at zero and tensors flat', () => {
  expect(tf.getBackend()).toBe('wasm');
  const model = CustomerModel.create(config, 6);
  const variables = [...model.variables.values()];
  const batch = buildSequenceBatch(config, histories, { length: 12 });
  const random = new Random(2);
  const optimizer = tf.train.adam(0.05);
  const step = () =>
    optimizer.minimize(() => tf.addN(Object.values(model.taskLosses(batch, labels, { training: true, random }))) as tf.Scalar, true, variables)!;

  step().dispose();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const cost = step();
    expect(Number.isFinite(cost.dataSync()[0])).toBe(true);
    cost.dispose();
  }
  expect(tf.memory().numTensors).toBe(before);

  for (const feature of config.features) {
    const table = model.getWeights()[`embedding/${feature.name}`]!.values;
    expect(Array.from(table.subarray(0, config.hidden)), feature.name).toEqual(new Array(config.hidden).fill(0));
  }
  optimizer.dispose();
  model.dispose();
});

test('wasm scores match cpu scores and ignore padding', async () => {
  const model = CustomerModel.create(config, 7);
  const onWasm = scoresOn(model, 9);
  expect(maxAbsDifference(onWasm, scoresOn(model, 16))).toBeLessThan(1e-5);
  const weights = model.getWeights();
  model.dispose();

  await tf.setBackend('cpu');
  const cpuModel = CustomerModel.create(config, 7);
  cpuModel.setWeights(weights);
  const onCpu = scoresOn(cpuModel, 9);
  cpuModel.dispose();
  await tf.setBackend('wasm');

  expect(maxAbsDifference(onWasm, onCpu)).toBeLessThan(1e-4);
});
