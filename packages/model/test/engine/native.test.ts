import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Random } from '@mcm/common';
import { loadNativeKernels } from '@mcm/native-kernels';
import { linear, matMul } from '../../src/engine/ops.ts';
import { NATIVE_MAT_MUL, registerWasmTrainingKernels } from '../../src/engine/wasm-kernels.ts';
import { expectClose, randomNormal, runOn, toTensor, useWasm, type HostTensor } from './helpers.ts';

// Sums of up to 7 float32 products, which OpenBLAS adds in another order than the cpu backend.
const TOLERANCE = 1e-5;

const load = loadNativeKernels();
const suffix = load.kernels === undefined ? ` (skipped: ${load.reason})` : '';

beforeAll(async () => {
  await useWasm();
  registerWasmTrainingKernels({ nativeMatMul: true });
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
  { label: 'shared rank 2 by rank 3', batchA: [], batchB: [4] },
  { label: 'rank 4 by batch-1 rank 4', batchA: [2, 3], batchB: [1, 1] },
  { label: 'rank 4 broadcast both ways', batchA: [2, 1], batchB: [1, 3] },
];

function operandShape(batch: number[], rows: number, columns: number, transposed: boolean): number[] {
  return transposed ? [...batch, columns, rows] : [...batch, rows, columns];
}

/** Forward value and gradients of sum(multiply(a, b) * w). */
function valueAndGradients(multiply: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, a: HostTensor, b: HostTensor, w: HostTensor): tf.Tensor[] {
  const weights = toTensor(w);
  const loss = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(multiply(x, y), weights));
  const value = multiply(toTensor(a), toTensor(b));
  const [da, db] = tf.grads(loss)([toTensor(a), toTensor(b)]);
  return [value, da!, db!];
}

/** Number of NativeMatMul calls while `compute` runs on wasm. */
async function nativeCalls(compute: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  await tf.setBackend('wasm');
  const info = await tf.profile(() => tf.tidy(compute));
  tf.dispose(info.result as tf.Tensor | tf.Tensor[]);
  return info.kernels.filter((kernel) => kernel.name === NATIVE_MAT_MUL).length;
}

describe.skipIf(load.kernels === undefined)(`matMul on the native module against the cpu backend${suffix}`, () => {
  for (const { label, batchA, batchB } of SHAPES) {
    for (const [transposeA, transposeB] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
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
        const actual = await runOn('wasm', () => valueAndGradients(ours, a, b, w));
        expectClose(actual[0]!, expected[0]!, TOLERANCE, 'forward');
        expectClose(actual[1]!, expected[1]!, TOLERANCE, 'd a');
        expectClose(actual[2]!, expected[2]!, TOLERANCE, 'd b');
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

  test('forward and gradients run on NativeMatMul', async () => {
    const random = new Random(5);
    const a = randomNormal(random, [4, 5, 7]);
    const b = randomNormal(random, [7, 3]);
    const w = randomNormal(random, [4, 5, 3]);
    // Two forward products (the value, then the loss inside tf.grads) and one per gradient.
    expect(await nativeCalls(() => valueAndGradients((x, y) => matMul(x, y), a, b, w))).toBe(4);
  });
});

describe.skipIf(load.kernels === undefined)(`linear on the native module against the cpu backend${suffix}`, () => {
  for (const { label, xShape, withBias } of [
    { label: 'rank 2 with bias', xShape: [6, 7], withBias: true },
    { label: 'rank 3 with bias', xShape: [2, 6, 7], withBias: true },
    { label: 'rank 3 without bias', xShape: [2, 6, 7], withBias: false },
    { label: 'layer-sized with bias', xShape: [4, 50, 64], withBias: true },
  ]) {
    test(label, async () => {
      const inputs = xShape[xShape.length - 1]!;
      const random = new Random(xShape.length * 3 + Number(withBias));
      const x = randomNormal(random, xShape);
      const kernel = randomNormal(random, [inputs, 4]);
      const bias = randomNormal(random, [4]);
      const w = randomNormal(random, [...xShape.slice(0, -1), 4]);

      const run = (apply: (x: tf.Tensor, k: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor) => () => {
        const weights = toTensor(w);
        const loss = (xIn: tf.Tensor, kIn: tf.Tensor, bIn: tf.Tensor) => tf.sum(tf.mul(apply(xIn, kIn as tf.Tensor2D, bIn as tf.Tensor1D), weights));
        const value = apply(toTensor(x), toTensor(kernel) as tf.Tensor2D, toTensor(bias) as tf.Tensor1D);
        return [value, ...tf.grads(loss)([toTensor(x), toTensor(kernel), toTensor(bias)])];
      };
      const reference = (xIn: tf.Tensor, k: tf.Tensor2D, b: tf.Tensor1D) => {
        const product = tf.reshape(tf.matMul(tf.reshape(xIn, [-1, inputs]), k), [...xIn.shape.slice(0, -1), 4]);
        return withBias ? tf.add(product, b) : tf.add(product, tf.mul(b, 0));
      };
      const ours = (xIn: tf.Tensor, k: tf.Tensor2D, b: tf.Tensor1D) => (withBias ? linear(xIn, k, b) : tf.add(linear(xIn, k), tf.mul(b, 0)));

      // Sums of up to 200 products for the kernel gradient of the layer-sized case.
      const tolerance = xShape.length === 3 && xShape[1] === 50 ? 1e-4 : TOLERANCE;
      const expected = await runOn('cpu', run(reference));
      const actual = await runOn('wasm', run(ours));
      for (const [index, name] of ['forward', 'd x', 'd kernel', 'd bias'].entries()) {
        expectClose(actual[index]!, expected[index]!, tolerance, name);
      }
    });
  }

  test('forward with bias is one NativeMatMul', async () => {
    const x = tf.randomNormal([3, 5, 7]);
    const kernel = tf.randomNormal([7, 4]) as tf.Tensor2D;
    const bias = tf.randomNormal([4]) as tf.Tensor1D;
    expect(await nativeCalls(() => linear(x, kernel, bias))).toBe(1);
    tf.dispose([x, kernel, bias]);
  });
});

test('native module absence reported', () => {
  if (load.kernels !== undefined) {
    expect(tf.getKernel(NATIVE_MAT_MUL, 'wasm')).toBeDefined();
    return;
  }
  expect(tf.getKernel(NATIVE_MAT_MUL, 'wasm')).toBeUndefined();
  expect(load.reason).toMatch(/not built \(run npm run build:native\)|switched off|failed to load/);
});
