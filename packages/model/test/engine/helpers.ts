// The union package registers tfjs's gradient functions, which tfjs-core's Node bundle lacks.
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import type { Random } from '@mcm/common';
import { initBackend } from '../../src/engine/backend.ts';

/** A tensor's values and shape, read back so that they outlive the backend they came from. */
export interface HostTensor {
  shape: number[];
  dtype: tf.DataType;
  values: Float32Array | Int32Array;
}

/** Loads the wasm backend with the training kernels, then leaves it active. */
export async function useWasm(): Promise<void> {
  const choice = await initBackend('wasm');
  expect(choice.name).toBe('wasm');
}

/** Runs `compute` on `backend` inside a tidy scope and reads every output back. */
export async function runOn(backend: 'cpu' | 'wasm', compute: () => tf.Tensor | tf.Tensor[]): Promise<HostTensor[]> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to initialise`);
  const outputs = tf.tidy(compute);
  const list = Array.isArray(outputs) ? outputs : [outputs];
  const host = list.map((t) => ({ shape: t.shape, dtype: t.dtype, values: t.dataSync() as Float32Array | Int32Array }));
  tf.dispose(list);
  return host;
}

/** Creates a tensor on the active backend from host values. */
export function toTensor(host: HostTensor): tf.Tensor {
  return tf.tensor(host.values, host.shape, host.dtype);
}

/** Standard normal values of `shape`, the same for every backend that reads them. */
export function randomNormal(random: Random, shape: number[]): HostTensor {
  const values = new Float32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < values.length; i++) values[i] = random.normal();
  return { shape, dtype: 'float32', values };
}

/** Uniform integers in [low, high) of `shape`, as int32. */
export function randomInts(random: Random, shape: number[], low: number, high: number): HostTensor {
  const values = new Int32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < values.length; i++) values[i] = low + random.int(high - low);
  return { shape, dtype: 'int32', values };
}

/** Asserts equal shapes and |actual - expected| <= tolerance * max(1, |expected|) elementwise. */
export function expectClose(actual: HostTensor, expected: HostTensor, tolerance: number, label: string): void {
  expect(actual.shape, `${label}: shape`).toEqual(expected.shape);
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < expected.values.length; i++) {
    const error = Math.abs(actual.values[i]! - expected.values[i]!) / Math.max(1, Math.abs(expected.values[i]!));
    if (!(error <= worst)) {
      worst = error;
      worstIndex = i;
    }
  }
  const detail =
    worstIndex < 0 ? '' : ` (index ${worstIndex}: ${actual.values[worstIndex]} vs ${expected.values[worstIndex]})`;
  expect(worst, `${label}: largest relative error${detail}`).toBeLessThanOrEqual(tolerance);
}
