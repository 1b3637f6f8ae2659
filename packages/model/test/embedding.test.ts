import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { beforeAll, describe, expect, test } from 'vitest';
import { CustomerModel } from '../src/customer-model.ts';
import { HeterogeneousEmbedding } from '../src/embedding.ts';
import { ParameterStore } from '../src/parameters.ts';
import { prepareBatch } from '../src/prepared-batch.ts';
import { buildSequenceBatch, maxAbsDifference, randomHistories, tinyConfig, useCpuBackend, type TestEvent } from './helpers.ts';

beforeAll(useCpuBackend);

function row(table: tf.Variable, index: number): Float32Array {
  return tf.tidy(() => tf.slice(table, [index, 0], [1, table.shape[1]!]).dataSync() as Float32Array);
}

describe('padding rows', () => {
  // Threshold 8 makes the item task (13 ids) take the sampled path and brand (7) the full one.
  const config = tinyConfig({ sampledSoftmaxThreshold: 8, sampledNegatives: 5, dropout: 0.1, maskToken: true });
  const tables = config.features.map((feature) => `embedding/${feature.name}`);

  test('start at zero', () => {
    const model = CustomerModel.create(config, 3);
    for (const name of tables) expect(Array.from(row(model.variables.get(name)!, 0))).toEqual(new Array(config.hidden).fill(0));
    model.dispose();
  });

  test('get zero gradient and stay zero after Adam steps', () => {
    const model = CustomerModel.create(config, 3);
    const histories = randomHistories(config, 6, 17);
    const batch = buildSequenceBatch(config, histories, { length: 12, paddingId: 2 });
    const labels = { item: Int32Array.from([2, 1, 0, 12, 5, 5]), brand: Int32Array.from([3, 6, 2, 1, 0, 4]) };
    const random = new Random(8);
    const variables = [...model.variables.values()];
    const optimizer = tf.train.adam(0.05);

    for (let step = 0; step < 3; step++) {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const losses = model.taskLosses(batch, labels, { training: true, random });
          return tf.addN(Object.values(losses)) as tf.Scalar;
        }, variables);
        for (const name of tables) {
          const gradient = grads[model.variables.get(name)!.name]!;
          const paddingGradient = tf.slice(gradient, [0, 0], [1, config.hidden]).dataSync();
          expect(Array.from(paddingGradient), `${name} row 0 gradient`).toEqual(new Array(config.hidden).fill(0));
        }
        optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      });
    }

    for (const name of tables) {
      expect(Array.from(row(model.variables.get(name)!, 0)), `${name} row 0`).toEqual(new Array(config.hidden).fill(0));
      expect(maxAbsDifference(row(model.variables.get(name)!, 1), new Float32Array(config.hidden)), `${name} row 1 trains`).toBeGreaterThan(0);
    }
    optimizer.dispose();
    model.dispose();
  });
});

test('embedding averages present features and pools multi-valued slots', () => {
  const config = tinyConfig({ positions: 'from-last' });
  const store = new ParameterStore(new Random(4));
  const embedding = new HeterogeneousEmbedding(store, config);
  const histories: TestEvent[][] = [
    [
      { item: 3, brand: 2, tags: [4, 5] }, // three features, tags averaged over 2 values
      { item: 7, brand: 0, tags: [] }, // brand missing, no tags: the item alone
    ],
    [{ item: 1, brand: 6, tags: [2] }],
  ];
  const batch = buildSequenceBatch(config, histories, { length: 3, width: 3 });
  const actual = tf.tidy(() => embedding.apply(prepareBatch(config, batch)).arraySync());

  const value = (feature: string, id: number) => Array.from(row(embedding.tables.get(feature)!, id));
  const position = (p: number) => Array.from(row(embedding.positions, p));
  const mean = (vectors: number[][]) => vectors[0]!.map((_, k) => vectors.reduce((sum, v) => sum + v[k]!, 0) / vectors.length);
  const plus = (a: number[], b: number[]) => a.map((x, k) => x + b[k]!);

  const tags45 = mean([value('tags', 4), value('tags', 5)]);
  const expected = [
    [plus(mean([value('item', 3), value('brand', 2), tags45]), position(1)), plus(value('item', 7), position(0))],
    [plus(mean([value('item', 1), value('brand', 6), value('tags', 2)]), position(0))],
  ];

  expect(maxAbsDifference(actual[0]![0]!, expected[0]![0]!)).toBeLessThan(1e-6);
  expect(maxAbsDifference(actual[0]![1]!, expected[0]![1]!)).toBeLessThan(1e-6);
  expect(maxAbsDifference(actual[1]![0]!, expected[1]![0]!)).toBeLessThan(1e-6);
  for (const variable of store.variables.values()) variable.dispose();
});

test('batch with an id outside the table is rejected', () => {
  const config = tinyConfig();
  const model = CustomerModel.create(config, 1);
  const batch = buildSequenceBatch(config, [[{ item: 13, brand: 1, tags: [] }]]);

  expect(() => model.embed(batch)).toThrow('feature "item" has id 13 at sequence 0, position 0, outside its table of 13 rows');
  model.dispose();
});

test('sequence longer than maxLength is rejected', () => {
  const config = tinyConfig({});
  const model = CustomerModel.create(config, 1);
  const events = Array.from({ length: 13 }, () => ({ item: 2, brand: 2, tags: [] }));

  expect(() => model.embed(buildSequenceBatch(config, [events]))).toThrow('sequence 0 has length 13, which exceeds maxLength 12');
  model.dispose();
});
