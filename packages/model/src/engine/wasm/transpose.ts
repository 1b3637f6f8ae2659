import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { input, stockRunner, type KernelArgs } from './internals.ts';

/**
 * Creates a Transpose kernel that shares the input's data when the permutation leaves every
 * axis in place, and runs `stock`, the backend's own kernel, otherwise. tfjs's gradient of
 * gather transposes the whole table gradient with such a permutation, and the stock kernel
 * copies it: three copies of a [1,000,000, 64] gradient took 60 ms of a step.
 */
export function createTranspose(stock: tf.KernelConfig): (args: KernelArgs) => tf.TensorInfo {
  const runStock = stockRunner(stock);
  return (args) => {
    const x = input(args, 'x', 'Transpose');
    const perm = (args.attrs?.perm ?? []) as number[];
    const identity = perm.length === x.shape.length && perm.every((axis, i) => axis === i);
    if (!identity) return runStock(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
