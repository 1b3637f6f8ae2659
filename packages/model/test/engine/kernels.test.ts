import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { Random } from '@mcm/common';
import { slicedBatchMatMul } from '../../src/engine/wasm-kernels.ts';
import { expectClose, randomInts, randomNormal, runOn, toTensor, useWasm } from './helpers.ts';

const TOLERANCE = 1e-5;

beforeAll(async () => {
  await useWasm();
});

describe('UnsortedSegmentSum on wasm', () => {
  const cases: { label: string; xShape: number[]; idsShape: number[]; segments: number; low: number; high: number }[] = [
    { label: 'rows of an embedding gradient', xShape: [40, 8], idsShape: [40], segments: 13, low: 0, high: 13 },
    { label: 'scalar rows', xShape: [25], idsShape: [25], segments: 6, low: 0, high: 6 },
    { label: 'rank-3 values', xShape: [12, 5, 3], idsShape: [12], segments: 7, low: 0, high: 7 },
    { label: 'ids out of range dropped', xShape: [30, 4], idsShape: [30], segments: 5, low: -3, high: 9 },
    { label: 'more segments than rows', xShape: [3, 2], idsShape: [3], segments: 50, low: 0, high: 50 },
  ];

  for (const { label, xShape, idsShape, segments, low, high } of cases) {
    test(label, async () => {
      const random = new Random(xShape.length * 101 + segments);
      const x = randomNormal(random, xShape);
      const ids = randomInts(random, idsShape, low, high);
      const compute = () => tf.unsortedSegmentSum(toTensor(x), toTensor(ids) as tf.Tensor1D, segments);

      const [expected] = await runOn('cpu', compute);
      const [actual] = await runOn('wasm', compute);
      expectClose(actual!, expected!, TOLERANCE, label);
    });
  }

  test('int32 values', async () => {
    const random = new Random(7);
    const x = randomInts(random, [20, 3], -50, 50);
    const ids = randomInts(random, [20], 0, 4);
    const compute = () => tf.unsortedSegmentSum(toTensor(x), toTensor(ids) as tf.Tensor1D, 4);

    const [expected] = await runOn('cpu', compute);
    const [actual] = await runOn('wasm', compute);
    expect(actual!.dtype).toBe('int32');
    expect(Array.from(actual!.values)).toEqual(Array.from(expected!.values));
  });

  test('mismatched segment ids rejected', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([4, 3]);
    const ids = tf.tensor1d([0, 1, 2], 'int32');
    expect(() => tf.unsortedSegmentSum(x, ids, 3)).toThrow(/segment ids of shape \[3\] must be one id per row/);
    tf.dispose([x, ids]);
  });
});

describe('GatherV2 on wasm', () => {
  const cases: { label: string; xShape: number[]; indicesShape: number[]; axis: number; batchDims: number }[] = [
    { label: 'embedding rows', xShape: [17, 6], indicesShape: [40], axis: 0, batchDims: 0 },
    { label: 'rank-2 indices', xShape: [17, 6], indicesShape: [5, 9], axis: 0, batchDims: 0 },
    { label: 'middle axis', xShape: [3, 11, 4], indicesShape: [7], axis: 1, batchDims: 0 },
    { label: 'last axis', xShape: [3, 11], indicesShape: [2, 4], axis: 1, batchDims: 0 },
    { label: 'batched gather', xShape: [3, 11, 4], indicesShape: [3, 5], axis: 1, batchDims: 1 },
    { label: 'batched gather, outer axis', xShape: [2, 3, 11, 4], indicesShape: [2, 6], axis: 2, batchDims: 1 },
  ];

  for (const { label, xShape, indicesShape, axis, batchDims } of cases) {
    test(label, async () => {
      const random = new Random(xShape.length * 13 + indicesShape.length * 3 + axis);
      const x = randomNormal(random, xShape);
      const indices = randomInts(random, indicesShape, 0, xShape[axis]!);
      const compute = () => tf.gather(toTensor(x), toTensor(indices), axis, batchDims);

      const [expected] = await runOn('cpu', compute);
      const [actual] = await runOn('wasm', compute);
      expectClose(actual!, expected!, 0, label);
    });
  }

  test('int32 values', async () => {
    const random = new Random(5);
    const x = randomInts(random, [9, 3], -100, 100);
    const indices = randomInts(random, [12], 0, 9);
    const compute = () => tf.gather(toTensor(x), toTensor(indices));

    const [expected] = await runOn('cpu', compute);
    const [actual] = await runOn('wasm', compute);
    expect(actual!.dtype).toBe('int32');
    expect(Array.from(actual!.values)).toEqual(Array.from(expected!.values));
  });

  test('index out of range rejected', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([4, 3]);
    const indices = tf.tensor1d([0, 4], 'int32');
    const before = tf.memory().numTensors;
    expect(() => tf.gather(x, indices)).toThrow(/the index value 4 is not in \[0, 3\]/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, indices]);
  });
});

describe('gather gradient on wasm', () => {
  test('matches cpu for an embedding table', async () => {
    const random = new Random(11);
    const table = randomNormal(random, [17, 6]);
    const ids = randomInts(random, [5, 9], 0, 17);
    const weights = randomNormal(random, [5, 9, 6]);
    const compute = () => {
      const embed = (t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, toTensor(ids)), toTensor(weights)));
      return tf.grad(embed)(toTensor(table));
    };

    const [expected] = await runOn('cpu', compute);
    const [actual] = await runOn('wasm', compute);
    expectClose(actual!, expected!, TOLERANCE, 'd table');
  });
});

describe('zero-copy Identity on wasm', () => {
  test('clone keeps its values after the source is disposed', async () => {
    await tf.setBackend('wasm');
    const source = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const copy = tf.clone(source);
    source.dispose();
    expect(copy.shape).toEqual([2, 3]);
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    copy.dispose();
  });

  test('clone adds no data buffer', async () => {
    await tf.setBackend('wasm');
    const source = tf.ones([64, 64]);
    const before = tf.memory().numDataBuffers;
    const copy = tf.clone(source);
    expect(tf.memory().numDataBuffers).toBe(before);
    tf.dispose([source, copy]);
  });
});

describe('Transpose on wasm', () => {
  test('identity permutation shares the data', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    const buffers = tf.memory().numDataBuffers;
    const same = tf.transpose(x, [0, 1]);
    expect(tf.memory().numDataBuffers).toBe(buffers);
    x.dispose();
    expect(Array.from(same.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    same.dispose();
  });

  test('other permutations match cpu', async () => {
    const random = new Random(31);
    const x = randomNormal(random, [2, 3, 4]);
    for (const perm of [[1, 0, 2], [2, 1, 0], [0, 2, 1]]) {
      const compute = () => tf.transpose(toTensor(x), perm);
      const [expected] = await runOn('cpu', compute);
      const [actual] = await runOn('wasm', compute);
      expectClose(actual!, expected!, 0, `perm [${perm}]`);
    }
  });
});

describe('SlicedBatchMatMul on wasm', () => {
  const cases: { label: string; aShape: [number, number, number]; bShape: [number, number, number] }[] = [
    { label: 'equal batches', aShape: [6, 5, 4], bShape: [6, 4, 3] },
    { label: 'shared a slice', aShape: [1, 5, 4], bShape: [6, 4, 3] },
    { label: 'shared b slice', aShape: [6, 5, 4], bShape: [1, 4, 3] },
    { label: 'attention scores', aShape: [32, 50, 16], bShape: [32, 16, 50] },
  ];

  for (const { label, aShape, bShape } of cases) {
    test(label, async () => {
      const random = new Random(aShape[0] * 31 + bShape[0]);
      const a = randomNormal(random, aShape);
      const b = randomNormal(random, bShape);

      const [expected] = await runOn('cpu', () => tf.matMul(toTensor(a), toTensor(b)));
      const [actual] = await runOn('wasm', () => slicedBatchMatMul(toTensor(a) as tf.Tensor3D, toTensor(b) as tf.Tensor3D));
      expectClose(actual!, expected!, TOLERANCE, label);
    });
  }

  test('batch sizes that cannot pair rejected', async () => {
    await tf.setBackend('wasm');
    const a = tf.zeros([2, 3, 4]) as tf.Tensor3D;
    const b = tf.zeros([3, 4, 5]) as tf.Tensor3D;
    expect(() => slicedBatchMatMul(a, b)).toThrow(/batch sizes 2 and 3 differ/);
    tf.dispose([a, b]);
  });
});

describe('transformer training step on wasm', () => {
  test('runs without a missing kernel', async () => {
    await tf.setBackend('wasm');
    const table = tf.variable(tf.randomNormal([20, 8]), true, 'step-table');
    const kernel = tf.variable(tf.randomNormal([8, 8]), true, 'step-kernel');
    const optimizer = tf.train.adam(1e-3);
    const ids = tf.tensor1d([1, 4, 0, 19, 7, 7], 'int32');
    const labels = tf.oneHot(tf.tensor1d([3, 5], 'int32'), 20);

    const loss = (): tf.Scalar => {
      const x = tf.reshape(tf.gather(table, ids), [2, 3, 8]); // [batch, seq, hidden]
      const centered = tf.sub(x, tf.mean(x, -1, true));
      const normalized = tf.mul(centered, tf.rsqrt(tf.add(tf.mean(tf.square(centered), -1, true), 1e-12)));
      const activated = tf.mul(tf.mul(normalized, 0.5), tf.add(tf.erf(tf.mul(normalized, Math.SQRT1_2)), 1));
      const attention = tf.softmax(tf.matMul(activated, activated, false, true)); // [batch, seq, seq]
      const projected = tf.reshape(tf.matMul(tf.reshape(activated, [6, 8]), kernel), [2, 3, 8]);
      const context = tf.dropout(tf.matMul(attention, projected), 0.1); // [batch, seq, hidden]
      const last = tf.reshape(tf.slice(context, [0, 2, 0], [2, 1, 8]), [2, 8]);
      const logits = tf.matMul(last, table, false, true); // [batch, items]
      return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), labels), 1))) as tf.Scalar;
    };

    const value = tf.tidy(() => optimizer.minimize(loss, true)!);
    expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
    tf.dispose([value, table, kernel, ids, labels]);
    optimizer.dispose();
  });
});
