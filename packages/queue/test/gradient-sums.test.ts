import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@mcm/model';
import { GradientSums } from '../src/gradient-sums.ts';

beforeAll(async () => {
  // The backend on which gradients are read in place, from the wasm heap.
  await initBackend('wasm');
});

describe('GradientSums', () => {
  it('adds the micro-batches of a job and starts again from zero after clear', () => {
    const sums = new GradientSums();
    const first = tf.tensor2d([[1, 2], [3, 4]]);
    const second = tf.mul(first, 0.5);
    const bias = tf.tensor1d([7]);

    sums.add('kernel', first);
    sums.add('kernel', second);
    sums.add('bias', bias);
    expect(Array.from(sums.current().get('kernel')!.values)).toEqual([1.5, 3, 4.5, 6]);
    expect(sums.current().get('kernel')!.shape).toEqual([2, 2]);

    // The next job sums only its own gradients, in the same arrays, and leaves out names it did not add.
    const reusedValues = sums.current().get('kernel')!.values;
    sums.clear();
    sums.add('kernel', second);
    expect(sums.current().get('kernel')!.values).toBe(reusedValues);
    expect(Array.from(reusedValues)).toEqual([0.5, 1, 1.5, 2]);
    expect([...sums.current().keys()]).toEqual(['kernel']);
    tf.dispose([first, second, bias]);
  });

  it('makes a new array when a name comes back with another shape', () => {
    const sums = new GradientSums();
    const square = tf.tensor2d([[1, 2], [3, 4]]);
    const row = tf.tensor2d([[5, 6, 7, 8]]);
    sums.add('kernel', square);
    sums.clear();
    sums.add('kernel', row);
    expect(sums.current().get('kernel')!.shape).toEqual([1, 4]);
    expect(Array.from(sums.current().get('kernel')!.values)).toEqual([5, 6, 7, 8]);
    tf.dispose([square, row]);
  });
});
