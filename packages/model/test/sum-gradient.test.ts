import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { beforeAll, describe, expect, test } from 'vitest';
import '../src/register-gradients.ts';
import { initBackend } from '../src/engine/index.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Values of `shape` drawn from `random`, as a plain array for expectations. */
function draw(random: Random, shape: number[]): number[] {
  return Array.from({ length: tf.util.sizeFromShape(shape) }, () => Math.round(random.normal() * 100) / 100);
}

// f(x) = sum(sum(x, axis) * c), so df/dx[i] = c at i's position with the summed axes dropped.
const CASES = [
  { label: 'last axis', shape: [2, 3, 4], axis: -1, keepDims: false, reduced: [2, 3] },
  { label: 'two axes', shape: [2, 3, 4], axis: [0, 2], keepDims: false, reduced: [3] },
  { label: 'kept dimensions', shape: [3, 5], axis: 1, keepDims: true, reduced: [3, 1] },
  { label: 'every axis', shape: [4, 2], axis: undefined, keepDims: false, reduced: [] },
];

describe('gradient of Sum', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    for (const { label, shape, axis, keepDims, reduced } of CASES) {
      test(`${backend}, ${label}: each entry gets the gradient of its sum`, async () => {
        await tf.setBackend(backend);
        const random = new Random(7);
        const x = tf.tensor(draw(random, shape), shape);
        const cValues = draw(random, reduced);
        const c = tf.tensor(cValues, reduced);

        const gradient = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.sum(input, axis, keepDims), c)))(x);
        expect(gradient.shape).toEqual(shape);

        const expected = tf.tidy(() => tf.broadcastTo(tf.reshape(c, shape.map((size, i) => (reducedAxes(shape, axis).includes(i) ? 1 : size))), shape));
        expect(Array.from(gradient.dataSync())).toEqual(Array.from(expected.dataSync()));
        tf.dispose([x, c, gradient, expected]);
        await tf.setBackend('wasm');
      });
    }
  }

  test('the registered gradient makes its ones with fill, on the backend', () => {
    // The stock gradient computes the same values, so only the source differs.
    const source = tf.getGradient(tf.Sum)!.gradFunc.toString();
    expect(source).toContain('fill(');
    expect(source).not.toContain('ones(');
  });
});

function reducedAxes(shape: number[], axis: number | number[] | undefined): number[] {
  return axis === undefined ? shape.map((_, i) => i) : tf.util.parseAxisParam(axis, shape);
}
