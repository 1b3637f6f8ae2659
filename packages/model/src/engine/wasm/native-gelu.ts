import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeKernels } from '@mcm/native-kernels';
import { heapOffsets, requireFloat32 } from './heap.ts';
import { input, type KernelArgs } from './internals.ts';

/** Creates NativeGelu: y = x Phi(x), the exact (erf) GELU, in one pass of the native module. */
export function createNativeGelu(native: NativeKernels): (args: KernelArgs) => tf.TensorInfo {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const x = input(args, 'x', 'NativeGelu');
    requireFloat32('NativeGelu', { x });
    const y = backend.makeOutput(x.shape, 'float32');
    const { heap, offsets } = heapOffsets(backend, [x, y]);
    native.gelu(heap, tf.util.sizeFromShape(x.shape), offsets[0]!, offsets[1]!);
    return y;
  };
}

/** Creates NativeGeluGrad: dx = dy (Phi(x) + x phi(x)), from x and dy of the same shape. */
export function createNativeGeluGrad(native: NativeKernels): (args: KernelArgs) => tf.TensorInfo {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const x = input(args, 'x', 'NativeGeluGrad');
    const dy = input(args, 'dy', 'NativeGeluGrad');
    requireFloat32('NativeGeluGrad', { x, dy });
    if (!tf.util.arraysEqual(x.shape, dy.shape)) {
      throw new Error(`NativeGeluGrad: dy [${dy.shape}] must have the shape of x [${x.shape}]`);
    }
    const dx = backend.makeOutput(x.shape, 'float32');
    const { heap, offsets } = heapOffsets(backend, [x, dy, dx]);
    native.geluGrad(heap, tf.util.sizeFromShape(x.shape), offsets[0]!, offsets[1]!, offsets[2]!);
    return dx;
  };
}
