import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Random } from '@mcm/common';
import { adamUpdate, type AdamUpdateSettings } from '../../src/engine/adam.ts';
import { linear } from '../../src/engine/ops.ts';
import { registerWasmTrainingKernels } from '../../src/engine/wasm-kernels.ts';
import { expectClose, randomNormal, runOn, toTensor, useWasm, type HostTensor } from './helpers.ts';

const TOLERANCE = 1e-5;

beforeAll(async () => {
  await useWasm();
});

afterAll(() => {
  registerWasmTrainingKernels();
});

/** Applies one update per gradient, starting from zero moments, and returns [variable, m, v]. */
function runUpdates(start: HostTensor, gradients: HostTensor[], settings: Omit<AdamUpdateSettings, 'step'>): tf.Tensor[] {
  let state = [toTensor(start), tf.zerosLike(toTensor(start)), tf.zerosLike(toTensor(start))];
  for (const [index, gradient] of gradients.entries()) {
    const [w, m, v] = state as [tf.Tensor, tf.Tensor, tf.Tensor];
    state = adamUpdate(w, toTensor(gradient), m, v, { ...settings, step: index + 1 });
  }
  return state;
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

// On wasm, AdamUpdate runs in the native module when it is built; both paths are tested.
describe.each([true, false])('adamUpdate against the cpu backend, native %s', (native) => {
  beforeAll(() => registerWasmTrainingKernels({ nativeKernels: native }));

  const settings = [
    { label: 'Adam', learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 },
    { label: 'AdamW', learningRate: 5e-3, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.01 },
  ];

  for (const { label, ...options } of settings) {
    test(`${label}, three steps`, async () => {
      const random = new Random(label.length);
      const start = randomNormal(random, [37, 5]);
      const gradients = [0, 1, 2].map(() => randomNormal(random, [37, 5]));

      const expected = await runOn('cpu', () => runUpdates(start, gradients, options));
      const actual = await runOn('wasm', () => runUpdates(start, gradients, options));
      for (const [index, name] of ['variable', 'first moment', 'second moment'].entries()) {
        expectClose(actual[index]!, expected[index]!, TOLERANCE, `${label} ${name}`);
      }
    });
  }

  test('first step moves by the learning rate', async () => {
    await tf.setBackend('wasm');
    const w = tf.tensor1d([1, -2, 3]);
    const g = tf.tensor1d([0.5, -4, 1e-3]);
    const zeros = tf.zeros([3]);
    const [next, m, v] = adamUpdate(w, g, zeros, zeros, { learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-12, weightDecay: 0, step: 1 });

    // With bias correction the first update is lr * g / |g| elementwise.
    expect(Array.from(next.dataSync()).map((x) => Number(x.toFixed(5)))).toEqual([0.9, -1.9, 2.9]);
    expect(Array.from(m.dataSync()).map((x) => Number(x.toFixed(6)))).toEqual([0.05, -0.4, 0.0001]);
    expect(v.shape).toEqual([3]);
    tf.dispose([w, g, zeros, next, m, v]);
  });

  test('in place writes over the inputs', async () => {
    const random = new Random(17);
    const start = randomNormal(random, [9, 4]);
    const gradient = randomNormal(random, [9, 4]);
    const second: HostTensor = { ...start, values: start.values.map(Math.abs) }; // v >= 0
    const settings = { learningRate: 1e-2, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01, step: 2 };
    const [expected] = await runOn('wasm', () => adamUpdate(toTensor(start), toTensor(gradient), toTensor(start), toTensor(second), settings));
    expect(expected!.values.some(Number.isNaN)).toBe(false);

    await tf.setBackend('wasm');
    const w = toTensor(start);
    const m = toTensor(start);
    const v = toTensor(second);
    const g = toTensor(gradient);
    const [next, nextM, nextV] = adamUpdate(w, g, m, v, { ...settings, inPlace: true });
    expect(next.dataId).toBe(w.dataId);
    expect(nextM.dataId).toBe(m.dataId);
    expect(nextV.dataId).toBe(v.dataId);
    expect(Array.from(w.dataSync())).toEqual(Array.from(expected!.values));
    tf.dispose([w, m, v, g, next, nextM, nextV]);
  });

  test('in place keeps shared data', async () => {
    await tf.setBackend('wasm');
    const w = tf.tensor1d([1, -2, 3]);
    const snapshot = tf.clone(w);
    const g = tf.tensor1d([0.5, 0.5, 0.5]);
    const m = tf.zeros([3]);
    const v = tf.zeros([3]);
    const [next, nextM, nextV] = adamUpdate(w, g, m, v, { learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, step: 1, inPlace: true });

    // The clone shares w's data, so the update goes to new tensors.
    expect(next.dataId).not.toBe(w.dataId);
    expect(Array.from(snapshot.dataSync())).toEqual([1, -2, 3]);
    expect(Array.from(w.dataSync())).toEqual([1, -2, 3]);
    expect(Array.from(next.dataSync()).map((x) => Number(x.toFixed(5)))).toEqual([0.9, -2.1, 2.9]);
    tf.dispose([w, snapshot, g, m, v, next, nextM, nextV]);
  });

  test('in place reaches later dense products', async () => {
    const random = new Random(23);
    const x = randomNormal(random, [6, 5]);
    const kernel = randomNormal(random, [5, 3]);
    const bias = randomNormal(random, [3]);
    const kernelGradient = randomNormal(random, [5, 3]);
    const biasGradient = randomNormal(random, [3]);
    const settings = { learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, step: 1 };

    // The product before the update makes the backend pack the kernel and bias (XNNPACK without
    // the native module); the product after it must see the updated values.
    const inPlace: boolean[] = [];
    const update = () => {
      // A variable is the only holder of its data once its initial tensor is gone, as in AdamW.
      const variableOf = (host: HostTensor) => tf.tidy(() => tf.variable(toTensor(host)));
      const w = variableOf(kernel);
      const b = variableOf(bias);
      const before = linear(toTensor(x), w as tf.Tensor2D, b as tf.Tensor1D);
      for (const [variable, gradient] of [[w, kernelGradient], [b, biasGradient]] as const) {
        const [next] = adamUpdate(variable, toTensor(gradient), tf.zerosLike(variable), tf.zerosLike(variable), { ...settings, inPlace: true });
        inPlace.push(next!.dataId === variable.dataId);
        variable.assign(next!);
      }
      const after = linear(toTensor(x), w as tf.Tensor2D, b as tf.Tensor1D);
      const outputs = [before, after, tf.clone(w), tf.clone(b)];
      tf.dispose([w, b]);
      return outputs;
    };
    const expected = await runOn('cpu', update);
    inPlace.length = 0;
    const actual = await runOn('wasm', update);
    expect(inPlace, 'written in place on wasm').toEqual([true, true]);
    expect(maxDifference(actual[1]!.values, actual[0]!.values), 'the update changes the product').toBeGreaterThan(0.01);
    for (const [index, name] of ['product before', 'product after', 'kernel', 'bias'].entries()) {
      expectClose(actual[index]!, expected[index]!, TOLERANCE, name);
    }
  });

  test('step 0 rejected', async () => {
    await tf.setBackend('wasm');
    const w = tf.zeros([2]);
    expect(() => adamUpdate(w, w, w, w, { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, step: 0 })).toThrow(
      /step must be an integer >= 1/,
    );
    w.dispose();
  });
});
