import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { gelu, layerNorm } from '../../src/engine/fused.ts';
import { linear, matMul } from '../../src/engine/ops.ts';
import { registerWasmTrainingKernels } from '../../src/engine/wasm-kernels.ts';
import { useWasm } from './helpers.ts';

beforeAll(async () => {
  await useWasm();
});

/** Builds a training step (forward, backward, Adam update) that runs every engine op. */
function makeStep(): { step: () => void; dispose: () => void } {
  const kernel = tf.variable(tf.randomNormal([16, 16], 0, 0.1), true, 'kernel');
  const bias = tf.variable(tf.zeros([16]), true, 'bias');
  const gamma = tf.variable(tf.ones([16]), true, 'gamma');
  const optimizer = tf.train.adam(1e-3);
  const x = tf.randomNormal([4, 10, 16]); // [batch, seq, hidden]

  const loss = (): tf.Scalar => {
    const h = gelu(layerNorm(linear(x, kernel as tf.Tensor2D, bias as tf.Tensor1D), gamma as tf.Tensor1D, bias as tf.Tensor1D, 1e-5)); // [batch, seq, hidden]
    const heads = tf.transpose(tf.reshape(h, [4, 10, 2, 8]), [0, 2, 1, 3]); // [batch, heads, seq, 8]
    const scores = tf.softmax(matMul(heads, heads, false, true)); // [batch, heads, seq, seq]
    const context = matMul(scores, heads); // [batch, heads, seq, 8]
    const readout = matMul(tf.reshape(context, [-1, 16]), kernel, false, true); // [batch * seq, 16]
    return tf.mean(tf.square(readout));
  };
  return {
    step: () => tf.tidy(() => void optimizer.minimize(loss)),
    dispose: () => {
      optimizer.dispose();
      tf.dispose([kernel, bias, gamma, x]);
    },
  };
}

describe('engine memory', () => {
  // On wasm, products run on the native module when it is built, else on XNNPACK.
  for (const [backend, native] of [
    ['wasm', true],
    ['wasm', false],
    ['cpu', false],
  ] as const) {
    test(`tensor count flat over steps on ${backend}${backend === 'wasm' ? `, native ${native}` : ''}`, async () => {
      await tf.setBackend(backend);
      registerWasmTrainingKernels({ nativeKernels: native });
      const { step, dispose } = makeStep();

      // The first step creates Adam's moment variables.
      step();
      const tensors = tf.memory().numTensors;
      const buffers = tf.memory().numDataBuffers;
      for (let i = 0; i < 5; i++) step();

      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.memory().numDataBuffers).toBe(buffers);
      dispose();
      registerWasmTrainingKernels();
    });
  }

  test('forward outside tidy leaves only its output', async () => {
    await tf.setBackend('wasm');
    const a = tf.randomNormal([2, 3, 5, 4]);
    const kernel = tf.randomNormal([4, 6]) as tf.Tensor2D;
    const bias = tf.zeros([6]) as tf.Tensor1D;
    const before = tf.memory().numTensors;

    const scores = matMul(a, a, false, true);
    const projected = linear(a, kernel, bias);
    expect(tf.memory().numTensors).toBe(before + 2);

    tf.dispose([scores, projected]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, kernel, bias]);
  });
});
