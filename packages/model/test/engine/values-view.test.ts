import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { valuesView } from '../../src/engine/values-view.ts';
import { useWasm } from './helpers.ts';

beforeAll(async () => {
  await useWasm();
});

describe('valuesView', () => {
  test('wasm reads in place', async () => {
    await tf.setBackend('wasm');
    const tensor = tf.tensor([1.5, -2, 3.25, 4, 5, 6], [2, 3]);
    const view = valuesView(tensor);

    expect(Array.from(view)).toEqual([1.5, -2, 3.25, 4, 5, 6]);
    // A copy would own a buffer of exactly its 24 bytes; the view lies in the much larger heap.
    expect(view.byteLength).toBe(24);
    expect(view.buffer.byteLength).toBeGreaterThan(1 << 20);
    tensor.dispose();
  });

  test('wasm reads an operation result', async () => {
    await tf.setBackend('wasm');
    const a = tf.tensor([1, 2, 3]);
    const b = tf.mul(a, 2);
    expect(Array.from(valuesView(b))).toEqual([2, 4, 6]);
    tf.dispose([a, b]);
  });

  test('cpu matches dataSync', async () => {
    await tf.setBackend('cpu');
    const tensor = tf.tensor([0.25, 7, -1]);
    expect(Array.from(valuesView(tensor))).toEqual([0.25, 7, -1]);
    tensor.dispose();
    await tf.setBackend('wasm');
  });

  test('wasm reads a cpu tensor', async () => {
    await tf.setBackend('cpu');
    const tensor = tf.tensor([9, 8, 7]);
    await tf.setBackend('wasm');
    expect(Array.from(valuesView(tensor))).toEqual([9, 8, 7]);
    tensor.dispose();
  });

  test('rejects a non-float32 tensor', async () => {
    await tf.setBackend('wasm');
    const tensor = tf.tensor([1, 2], [2], 'int32');
    expect(() => valuesView(tensor)).toThrow('valuesView reads float32 tensors, got int32 [2]');
    tensor.dispose();
  });
});
