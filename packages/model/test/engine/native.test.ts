import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Random } from '@mcm/common';
import { loadNativeKernels } from '@mcm/native-kernels';
import { adamUpdate } from '../../src/engine/adam.ts';
import { gelu, layerNorm } from '../../src/engine/fused.ts';
import { linear, matMul } from '../../src/engine/ops.ts';
import {
  NATIVE_GELU,
  NATIVE_GELU_GRAD,
  NATIVE_LAYER_NORM,
  NATIVE_LAYER_NORM_GRAD,
  NATIVE_MAT_MUL,
  registerWasmTrainingKernels,
} from '../../src/engine/wasm-kernels.ts';
import { expectClose, randomNormal, runOn, toTensor, useWasm, type HostTensor } from './helpers.ts';

// Sums of up to 7 float32 products, which OpenBLAS adds in another order than the cpu backend.
const TOLERANCE = 1e-5;

const load = loadNativeKernels();
const suffix = load.kernels === undefined ? ` (skipped: ${load.reason})` : '';

beforeAll(async () => {
  await useWasm();
  registerWasmTrainingKernels({ nativeKernels: true });
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

/** Number of calls of the kernel `name` while `compute` runs on wasm. */
async function nativeCalls(compute: () => tf.Tensor | tf.Tensor[], name = NATIVE_MAT_MUL): Promise<number> {
  await tf.setBackend('wasm');
  const info = await tf.profile(() => tf.tidy(compute));
  tf.dispose(info.result as tf.Tensor | tf.Tensor[]);
  return info.kernels.filter((kernel) => kernel.name === name).length;
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

describe.skipIf(load.kernels === undefined)(`gelu, layerNorm and Adam on the native module${suffix}`, () => {
  test('gelu at extreme inputs', async () => {
    const values = new Float32Array([-100, -10, -5.5, -4, -1, -1e-3, 0, 1e-3, 0.5, 1, 3.9, 4.1, 10, 100]);
    const x: HostTensor = { shape: [values.length], dtype: 'float32', values };
    const dy: HostTensor = { shape: [values.length], dtype: 'float32', values: new Float32Array(values.length).fill(1) };
    const run = (activate: (x: tf.Tensor) => tf.Tensor) => () => {
      const upstream = toTensor(dy);
      return [activate(toTensor(x)), tf.grad((xIn: tf.Tensor) => tf.sum(tf.mul(activate(xIn), upstream)))(toTensor(x))];
    };
    const reference = (xIn: tf.Tensor) => tf.mul(tf.mul(xIn, 0.5), tf.add(tf.erf(tf.mul(xIn, Math.SQRT1_2)), 1));

    const expected = await runOn('cpu', run(reference));
    const actual = await runOn('wasm', run(gelu));
    // tfjs's cpu erf is the Abramowitz-Stegun 7.1.26 approximation, within 1.5e-7 of erf.
    expectClose(actual[0]!, expected[0]!, TOLERANCE, 'forward');
    expectClose(actual[1]!, expected[1]!, TOLERANCE, 'd x');
  });

  test('layerNorm of constant rows', async () => {
    const x: HostTensor = { shape: [2, 4], dtype: 'float32', values: new Float32Array([3, 3, 3, 3, -1, -1, -1, -1]) };
    const [y] = await runOn('wasm', () => layerNorm(toTensor(x), tf.ones([4]), tf.fill([4], 0.5), 1e-5));
    expect(Array.from(y!.values)).toEqual([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  });

  test('layerNorm at layer size against the cpu backend', async () => {
    const random = new Random(11);
    const x = randomNormal(random, [4, 50, 64]);
    const gamma = randomNormal(random, [64]);
    const beta = randomNormal(random, [64]);
    const w = randomNormal(random, [4, 50, 64]);
    const run = (normalize: (x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor) => () => {
      const weights = toTensor(w);
      const loss = (xIn: tf.Tensor, gIn: tf.Tensor, bIn: tf.Tensor) => tf.sum(tf.mul(normalize(xIn, gIn as tf.Tensor1D, bIn as tf.Tensor1D), weights));
      return [normalize(toTensor(x), toTensor(gamma) as tf.Tensor1D, toTensor(beta) as tf.Tensor1D), ...tf.grads(loss)([toTensor(x), toTensor(gamma), toTensor(beta)])];
    };
    const reference = (xIn: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D) => {
      const centered = tf.sub(xIn, tf.mean(xIn, -1, true));
      const variance = tf.mean(tf.square(centered), -1, true);
      return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, 1e-5))), g), b);
    };

    const expected = await runOn('cpu', run(reference));
    const actual = await runOn('wasm', run((xIn, g, b) => layerNorm(xIn, g, b, 1e-5)));
    // d gamma and d beta sum 200 rows.
    for (const [index, name] of ['forward', 'd x', 'd gamma', 'd beta'].entries()) {
      expectClose(actual[index]!, expected[index]!, 1e-4, name);
    }
  });

  test('forward and gradient kernels used', async () => {
    const x = tf.randomNormal([6, 8]);
    const gamma = tf.ones([8]) as tf.Tensor1D;
    const beta = tf.zeros([8]) as tf.Tensor1D;
    const step = () => tf.grads((xIn: tf.Tensor, g: tf.Tensor) => tf.sum(gelu(layerNorm(xIn, g as tf.Tensor1D, beta, 1e-5))))([x, gamma]);
    for (const name of [NATIVE_GELU, NATIVE_GELU_GRAD, NATIVE_LAYER_NORM, NATIVE_LAYER_NORM_GRAD]) {
      expect(await nativeCalls(step, name), name).toBe(1);
    }
    tf.dispose([x, gamma, beta]);
  });

  test('Adam update matches the formula', async () => {
    await tf.setBackend('wasm');
    const w = tf.tensor1d([1, -2, 3, 0.5]);
    const g = tf.tensor1d([0.5, -4, 1e-3, 0]);
    const m = tf.tensor1d([0.1, 0.1, -0.1, 0]);
    const v = tf.tensor1d([0.01, 0.02, 0.03, 0]);
    const settings = { learningRate: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1, step: 3 };
    const [next, nextM, nextV] = adamUpdate(w, g, m, v, settings);

    const c1 = 1 - 0.9 ** 3;
    const c2 = 1 - 0.99 ** 3;
    const [wv, gv, mv, vv] = [w, g, m, v].map((t) => Array.from(t.dataSync()));
    const expectedM = mv!.map((mi, i) => 0.9 * mi + 0.1 * gv![i]!);
    const expectedV = vv!.map((vi, i) => 0.99 * vi + 0.01 * gv![i]! ** 2);
    const expectedW = wv!.map((wi, i) => wi - (0.01 * (expectedM[i]! / c1)) / (Math.sqrt(expectedV[i]! / c2) + 1e-8) - 0.01 * 0.1 * wi);
    expectClose({ shape: [4], dtype: 'float32', values: next!.dataSync() as Float32Array }, { shape: [4], dtype: 'float32', values: Float32Array.from(expectedW) }, 1e-6, 'w');
    expectClose({ shape: [4], dtype: 'float32', values: nextM!.dataSync() as Float32Array }, { shape: [4], dtype: 'float32', values: Float32Array.from(expectedM) }, 1e-6, 'm');
    expectClose({ shape: [4], dtype: 'float32', values: nextV!.dataSync() as Float32Array }, { shape: [4], dtype: 'float32', values: Float32Array.from(expectedV) }, 1e-6, 'v');
    tf.dispose([w, g, m, v, next!, nextM!, nextV!]);
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
