import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Random } from '@mcm/common';
import { loadNativeKernels } from '@mcm/native-kernels';
import { attention } from '../../src/engine/attention.ts';
import { NATIVE_ATTENTION, NATIVE_ATTENTION_GRAD, registerWasmTrainingKernels } from '../../src/engine/wasm-kernels.ts';
import { expectClose, randomNormal, runOn, toTensor, useWasm, type HostTensor } from './helpers.ts';

// Sums of up to 5 float32 products through a softmax, in another order than the reference.
const TOLERANCE = 1e-5;
const BATCH = 3;
const LENGTH = 5;
const HIDDEN = 8;
const HEADS = 2;

const load = loadNativeKernels();

beforeAll(async () => {
  await useWasm();
});

afterAll(() => {
  registerWasmTrainingKernels();
});

/** The formula in plain tfjs ops, differentiated by tfjs. */
function reference(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor, keep?: tf.Tensor): tf.Tensor {
  const split = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [BATCH, LENGTH, HEADS, HIDDEN / HEADS]), [0, 2, 1, 3]);
  let probabilities = tf.softmax(tf.add(tf.div(tf.matMul(split(q), split(k), false, true), Math.sqrt(HIDDEN / HEADS)), mask));
  if (keep !== undefined) probabilities = tf.mul(probabilities, keep);
  return tf.reshape(tf.transpose(tf.matMul(probabilities, split(v)), [0, 2, 1, 3]), [BATCH, LENGTH, HIDDEN]);
}

/** An additive mask of `shape` with about a third of the positions masked, none of a row's last. */
function maskOf(random: Random, shape: number[]): HostTensor {
  const values = new Float32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < values.length; i++) values[i] = i % LENGTH !== LENGTH - 1 && random.next() < 0.33 ? -1e9 : 0;
  return { shape, dtype: 'float32', values };
}

/** Dropout multipliers of rate 0.25: 0 or 4 / 3. */
function keepOf(random: Random): HostTensor {
  const shape = [BATCH, HEADS, LENGTH, LENGTH];
  const values = new Float32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < values.length; i++) values[i] = random.next() < 0.25 ? 0 : 4 / 3;
  return { shape, dtype: 'float32', values };
}

const MASKS: { label: string; shape: number[] }[] = [
  { label: 'padding mask [B, 1, 1, T]', shape: [BATCH, 1, 1, LENGTH] },
  { label: 'shared mask [1, 1, T, T]', shape: [1, 1, LENGTH, LENGTH] },
  { label: 'per-sequence mask [B, 1, T, T]', shape: [BATCH, 1, LENGTH, LENGTH] },
  { label: 'per-head mask [B, h, T, T]', shape: [BATCH, HEADS, LENGTH, LENGTH] },
];

describe.each([true, false])('attention against the cpu backend, native %s', (native) => {
  const skip = native && load.kernels === undefined;

  beforeAll(() => registerWasmTrainingKernels({ nativeKernels: native }));

  for (const { label, shape } of MASKS) {
    for (const dropout of [false, true]) {
      test.skipIf(skip)(`${label}, dropout ${dropout}`, async () => {
        const random = new Random(shape.length * 7 + shape[0]! + shape[2]! + Number(dropout));
        const [q, k, v, w] = [0, 1, 2, 3].map(() => randomNormal(random, [BATCH, LENGTH, HIDDEN]));
        const mask = maskOf(random, shape);
        const keep = dropout ? keepOf(random) : undefined;

        const run = (attend: (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor) => () => {
          const weights = toTensor(w!);
          const loss = (qIn: tf.Tensor, kIn: tf.Tensor, vIn: tf.Tensor) => tf.sum(tf.mul(attend(qIn, kIn, vIn), weights));
          return [attend(toTensor(q!), toTensor(k!), toTensor(v!)), ...tf.grads(loss)([toTensor(q!), toTensor(k!), toTensor(v!)])];
        };
        const keepTensor = () => (keep === undefined ? undefined : (toTensor(keep) as tf.Tensor4D));
        const ours = (qIn: tf.Tensor, kIn: tf.Tensor, vIn: tf.Tensor) =>
          attention(qIn as tf.Tensor3D, kIn as tf.Tensor3D, vIn as tf.Tensor3D, toTensor(mask), HEADS, keepTensor());

        const expected = await runOn('cpu', run((qIn, kIn, vIn) => reference(qIn, kIn, vIn, toTensor(mask), keepTensor())));
        for (const backend of ['wasm', 'cpu'] as const) {
          const actual = await runOn(backend, run(ours));
          for (const [index, name] of ['context', 'd q', 'd k', 'd v'].entries()) {
            expectClose(actual[index]!, expected[index]!, TOLERANCE, `${backend} ${name}`);
          }
        }
      });
    }
  }
});

describe.skipIf(load.kernels === undefined)('attention on the native module', () => {
  beforeAll(() => registerWasmTrainingKernels({ nativeKernels: true }));

  test('one kernel each way', async () => {
    await tf.setBackend('wasm');
    const q = tf.randomNormal([BATCH, LENGTH, HIDDEN]) as tf.Tensor3D;
    const mask = tf.zeros([BATCH, 1, 1, LENGTH]);
    const info = await tf.profile(() =>
      tf.tidy(() => tf.grads((qIn: tf.Tensor) => tf.sum(attention(qIn as tf.Tensor3D, qIn as tf.Tensor3D, qIn as tf.Tensor3D, mask, HEADS)))([q])),
    );
    tf.dispose(info.result as tf.Tensor[]);
    expect(info.kernels.filter((kernel) => kernel.name === NATIVE_ATTENTION)).toHaveLength(1);
    expect(info.kernels.filter((kernel) => kernel.name === NATIVE_ATTENTION_GRAD)).toHaveLength(1);
    expect(info.kernels.filter((kernel) => kernel.name === 'Transpose')).toHaveLength(0);
    tf.dispose([q, mask]);
  });

  test('tensor count flat', async () => {
    await tf.setBackend('wasm');
    const q = tf.variable(tf.randomNormal([BATCH, LENGTH, HIDDEN]), true, 'attention-flat-q');
    const mask = tf.zeros([1, 1, LENGTH, LENGTH]);
    const step = () => tf.tidy(() => tf.variableGrads(() => tf.sum(attention(q as unknown as tf.Tensor3D, q as unknown as tf.Tensor3D, q as unknown as tf.Tensor3D, mask, HEADS)) as tf.Scalar, [q]));
    tf.dispose(Object.values(step().grads));
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const { value, grads } = step();
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([q, mask]);
  });
});

test('heads that do not divide hidden rejected', async () => {
  await tf.setBackend('wasm');
  const q = tf.zeros([1, 2, 6]) as tf.Tensor3D;
  const mask = tf.zeros([1, 1, 1, 2]);
  expect(() => attention(q, q, q, mask, 4)).toThrow(/heads 4 must be a positive divisor of the hidden size 6/);
  tf.dispose([q, mask]);
});
