import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Random } from '@mcm/common';
import { adamUpdate, type AdamUpdateSettings } from '../../src/engine/adam.ts';
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

  test('step 0 rejected', async () => {
    await tf.setBackend('wasm');
    const w = tf.zeros([2]);
    expect(() => adamUpdate(w, w, w, w, { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, step: 0 })).toThrow(
      /step must be an integer >= 1/,
    );
    w.dispose();
  });
});
