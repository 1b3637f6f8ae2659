import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Random } from '@mcm/common';
import { linear, matMul } from '../../src/engine/ops.ts';
import { registerWasmTrainingKernels } from '../../src/engine/wasm-kernels.ts';
import { expectClose, randomNormal, runOn, toTensor, useWasm, type HostTensor } from './helpers.ts';

// Sums of up to 7 float32 products, which XNNPACK adds in another order than the cpu backend.
const TOLERANCE = 1e-5;

// These tests cover the XNNPACK path; native.test.ts covers the native module's.
beforeAll(async () => {
  await useWasm();
  registerWasmTrainingKernels({ nativeKernels: false });
});

afterAll(() => {
  registerWasmTrainingKernels();
});

/** Batch shapes of the operands, whose matrices are m = 5, k = 7, n = 3 before any transpose. */
const SHAPES: { label: string; batchA: number[]; batchB: number[] }[] = [
  { label: 'rank 2', batchA: [], batchB: [] },
  { label: 'rank 3', batchA: [4], batchB: [4] },
  { label: 'rank 4', batchA: [2, 3], batchB: [2, 3] },
  { label: 'rank 3 by shared rank 2', batchA: [4], batchB: [] },
  { label: 'rank 4 by shared rank 2', batchA: [2, 3], batchB: [] },
  { label: 'shared rank 2 by rank 3', batchA: [], batchB: [4] },
  { label: 'rank 4 by batch-1 rank 4', batchA: [2, 3], batchB: [1, 1] },
  { label: 'rank 4 broadcast both ways', batchA: [2, 1], batchB: [1, 3] },
];
const FLAGS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

function operandShape(batch: number[], rows: number, columns: number, transposed: boolean): number[] {
  return transposed ? [...batch, columns, rows] : [...batch, rows, columns];
}

/**
 * Forward value and gradients of sum(matMul(a, b) * w). The reference broadcasts both
 * operands explicitly, because tfjs's own matMul gradient does not sum over broadcast
 * batch dimensions.
 */
function valueAndGradients(
  multiply: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  a: HostTensor,
  b: HostTensor,
  w: HostTensor,
): tf.Tensor[] {
  const weights = toTensor(w);
  const loss = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(multiply(x, y), weights));
  const value = multiply(toTensor(a), toTensor(b));
  const [da, db] = tf.grads(loss)([toTensor(a), toTensor(b)]);
  return [value, da!, db!];
}

describe('matMul against the cpu backend', () => {
  for (const { label, batchA, batchB } of SHAPES) {
    for (const [transposeA, transposeB] of FLAGS) {
      test(`${label}, transposeA ${transposeA}, transposeB ${transposeB}`, async () => {
        const random = new Random(batchA.length * 17 + batchB.length * 5 + Number(transposeA) * 2 + Number(transposeB));
        const a = randomNormal(random, operandShape(batchA, 5, 7, transposeA));
        const b = randomNormal(random, operandShape(batchB, 7, 3, transposeB));
        const outBatch = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
        const w = randomNormal(random, [...outBatch, 5, 3]);

        const reference = (x: tf.Tensor, y: tf.Tensor) =>
          tf.matMul(
            tf.broadcastTo(x, [...outBatch, ...x.shape.slice(-2)]),
            tf.broadcastTo(y, [...outBatch, ...y.shape.slice(-2)]),
            transposeA,
            transposeB,
          );
        const ours = (x: tf.Tensor, y: tf.Tensor) => matMul(x, y, transposeA, transposeB);

        const expected = await runOn('cpu', () => valueAndGradients(reference, a, b, w));
        const onWasm = await runOn('wasm', () => valueAndGradients(ours, a, b, w));
        const onCpu = await runOn('cpu', () => valueAndGradients(ours, a, b, w));

        for (const [name, actual] of [['wasm', onWasm], ['cpu', onCpu]] as const) {
          expectClose(actual[0]!, expected[0]!, TOLERANCE, `${name} forward`);
          expectClose(actual[1]!, expected[1]!, TOLERANCE, `${name} d a`);
          expectClose(actual[2]!, expected[2]!, TOLERANCE, `${name} d b`);
        }
      });
    }
  }

  test('attention-sized products', async () => {
    const random = new Random(99);
    const q = randomNormal(random, [8, 4, 50, 16]);
    const k = randomNormal(random, [8, 4, 50, 16]);
    const w = randomNormal(random, [8, 4, 50, 50]);
    const reference = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, false, true); // [B, h, T, T]
    const ours = (x: tf.Tensor, y: tf.Tensor) => matMul(x, y, false, true);

    const expected = await runOn('cpu', () => valueAndGradients(reference, q, k, w));
    const actual = await runOn('wasm', () => valueAndGradients(ours, q, k, w));
    expectClose(actual[0]!, expected[0]!, TOLERANCE, 'scores');
    expectClose(actual[1]!, expected[1]!, TOLERANCE, 'd q');
    expectClose(actual[2]!, expected[2]!, TOLERANCE, 'd k');
  });

  test('inner dimension mismatch rejected', async () => {
    await tf.setBackend('wasm');
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([4, 5]);
    expect(() => matMul(a, b)).toThrow(/inner dimensions differ, a \[2,3\] \(transposeA false\) has 3 and b \[4,5\]/);
    tf.dispose([a, b]);
  });

  test('rank 1 rejected', async () => {
    await tf.setBackend('wasm');
    const a = tf.zeros([3]);
    const b = tf.zeros([3, 2]);
    expect(() => matMul(a, b)).toThrow(/rank 2 or more/);
    tf.dispose([a, b]);
  });
});

describe('linear against the cpu backend', () => {
  const cases: { label: string; xShape: number[]; withBias: boolean }[] = [
    { label: 'rank 2 with bias', xShape: [6, 7], withBias: true },
    { label: 'rank 3 with bias', xShape: [2, 6, 7], withBias: true },
    { label: 'rank 3 without bias', xShape: [2, 6, 7], withBias: false },
  ];

  for (const { label, xShape, withBias } of cases) {
    test(label, async () => {
      const random = new Random(xShape.length * 3 + Number(withBias));
      const x = randomNormal(random, xShape);
      const kernel = randomNormal(random, [7, 4]);
      const bias = randomNormal(random, [4]);
      const w = randomNormal(random, [...xShape.slice(0, -1), 4]);

      const run = (apply: (x: tf.Tensor, k: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor) => () => {
        const weights = toTensor(w);
        const loss = (xIn: tf.Tensor, kIn: tf.Tensor, bIn: tf.Tensor) =>
          tf.sum(tf.mul(apply(xIn, kIn as tf.Tensor2D, bIn as tf.Tensor1D), weights));
        const value = apply(toTensor(x), toTensor(kernel) as tf.Tensor2D, toTensor(bias) as tf.Tensor1D);
        const grads = tf.grads(loss)([toTensor(x), toTensor(kernel), toTensor(bias)]);
        return [value, ...grads];
      };
      const reference = (xIn: tf.Tensor, k: tf.Tensor2D, b: tf.Tensor1D) => {
        const product = tf.reshape(tf.matMul(tf.reshape(xIn, [-1, 7]), k), [...xIn.shape.slice(0, -1), 4]);
        return withBias ? tf.add(product, b) : tf.add(product, tf.mul(b, 0));
      };
      const ours = (xIn: tf.Tensor, k: tf.Tensor2D, b: tf.Tensor1D) =>
        withBias ? linear(xIn, k, b) : tf.add(linear(xIn, k), tf.mul(b, 0));

      const expected = await runOn('cpu', run(reference));
      for (const backend of ['wasm', 'cpu'] as const) {
        const actual = await runOn(backend, run(ours));
        expect(actual).toHaveLength(4);
        for (const [index, name] of ['forward', 'd x', 'd kernel', 'd bias'].entries()) {
          expectClose(actual[index]!, expected[index]!, TOLERANCE, `${backend} ${name}`);
        }
      }
    });
  }

  test('mismatched input size rejected', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([2, 5]);
    const kernel = tf.zeros([7, 4]) as tf.Tensor2D;
    expect(() => linear(x, kernel)).toThrow(/must end in 7, the kernel's input size/);
    tf.dispose([x, kernel]);
  });
});
