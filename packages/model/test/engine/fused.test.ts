import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Random } from '@mcm/common';
import { gelu, layerNorm } from '../../src/engine/fused.ts';
import { registerWasmTrainingKernels } from '../../src/engine/wasm-kernels.ts';
import { expectClose, randomNormal, runOn, toTensor, useWasm } from './helpers.ts';

const TOLERANCE = 1e-5;

beforeAll(async () => {
  await useWasm();
});

afterAll(() => {
  registerWasmTrainingKernels();
});

// On wasm, the ops run on the native module's kernels when it is built; both paths are tested.
const NATIVE_SETTINGS = [true, false];

/** The formula tfjs differentiates on its own, for reference. */
function referenceLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  const centered = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(centered), -1, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, epsilon))), gamma), beta);
}

function referenceGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

describe.each(NATIVE_SETTINGS)('layerNorm against the cpu backend, native %s', (native) => {
  beforeAll(() => registerWasmTrainingKernels({ nativeKernels: native }));

  for (const shape of [[6, 8], [3, 5, 16]]) {
    test(`x of shape [${shape}]`, async () => {
      const random = new Random(shape.length);
      const hidden = shape[shape.length - 1]!;
      const x = randomNormal(random, shape);
      const gamma = randomNormal(random, [hidden]);
      const beta = randomNormal(random, [hidden]);
      const w = randomNormal(random, shape);

      const run = (normalize: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) => () => {
        const weights = toTensor(w);
        const loss = (xIn: tf.Tensor, gIn: tf.Tensor, bIn: tf.Tensor) => tf.sum(tf.mul(normalize(xIn, gIn, bIn), weights));
        const value = normalize(toTensor(x), toTensor(gamma), toTensor(beta));
        return [value, ...tf.grads(loss)([toTensor(x), toTensor(gamma), toTensor(beta)])];
      };
      const ours = (xIn: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(xIn, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5);
      const reference = (xIn: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => referenceLayerNorm(xIn, g, b, 1e-5);

      const expected = await runOn('cpu', run(reference));
      for (const backend of ['wasm', 'cpu'] as const) {
        const actual = await runOn(backend, run(ours));
        for (const [index, name] of ['forward', 'd x', 'd gamma', 'd beta'].entries()) {
          expectClose(actual[index]!, expected[index]!, TOLERANCE, `${backend} ${name}`);
        }
      }
    });
  }

  test('mismatched gamma rejected', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([2, 4]);
    const gamma = tf.ones([3]) as tf.Tensor1D;
    const beta = tf.zeros([4]) as tf.Tensor1D;
    expect(() => layerNorm(x, gamma, beta, 1e-5)).toThrow(/gamma \[3\] and beta \[4\] must both be \[4\]/);
    tf.dispose([x, gamma, beta]);
  });
});

describe.each(NATIVE_SETTINGS)('gelu against the cpu backend, native %s', (native) => {
  beforeAll(() => registerWasmTrainingKernels({ nativeKernels: native }));

  test('values and gradient', async () => {
    const random = new Random(3);
    const x = randomNormal(random, [7, 33]);
    const w = randomNormal(random, [7, 33]);
    const run = (activate: (x: tf.Tensor) => tf.Tensor) => () => {
      const weights = toTensor(w);
      const value = activate(toTensor(x));
      return [value, tf.grad((xIn: tf.Tensor) => tf.sum(tf.mul(activate(xIn), weights)))(toTensor(x))];
    };

    const expected = await runOn('cpu', run(referenceGelu));
    for (const backend of ['wasm', 'cpu'] as const) {
      const actual = await runOn(backend, run(gelu));
      expectClose(actual[0]!, expected[0]!, TOLERANCE, `${backend} forward`);
      expectClose(actual[1]!, expected[1]!, TOLERANCE, `${backend} d x`);
    }
  });
});
