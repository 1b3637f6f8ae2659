import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeKernels } from '@mcm/native-kernels';
import { checkAdamInputs, readAdamAttributes } from './adam-update.ts';
import { heapOffsets } from './heap.ts';
import type { KernelArgs } from './internals.ts';

/** Creates the AdamUpdate kernel that runs the update in the native module (vectorized C). */
export function createNativeAdamUpdate(native: NativeKernels): (args: KernelArgs) => tf.TensorInfo[] {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const { variable, gradient, first, second, size } = checkAdamInputs(args);
    const attributes = readAdamAttributes(args);

    const outVariable = backend.makeOutput(variable.shape, 'float32');
    const outFirst = backend.makeOutput(variable.shape, 'float32');
    const outSecond = backend.makeOutput(variable.shape, 'float32');
    const { heap, offsets } = heapOffsets(backend, [variable, gradient, first, second, outVariable, outFirst, outSecond]);
    native.adam(
      heap,
      size,
      ...(offsets as [number, number, number, number, number, number, number]),
      attributes.learningRate,
      attributes.beta1,
      attributes.beta2,
      attributes.epsilon,
      attributes.weightDecay,
      attributes.firstCorrection,
      attributes.secondCorrection,
    );
    return [outVariable, outFirst, outSecond];
  };
}
