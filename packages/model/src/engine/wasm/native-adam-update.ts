import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeKernels } from '@mcm/native-kernels';
import { canUpdateInPlace, checkAdamInputs, readAdamAttributes, shareOutput } from './adam-update.ts';
import { heapOffsets } from './heap.ts';
import type { KernelArgs } from './internals.ts';

/**
 * Creates the AdamUpdate kernel that runs the update in the native module (vectorized C),
 * written over the variable and the moments when `canUpdateInPlace` allows it.
 */
export function createNativeAdamUpdate(native: NativeKernels): (args: KernelArgs) => tf.TensorInfo[] {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const inputs = checkAdamInputs(args);
    const { variable, gradient, first, second, size } = inputs;
    const attributes = readAdamAttributes(args);

    if (canUpdateInPlace(backend, inputs, args)) {
      const { heap, offsets } = heapOffsets(backend, [variable, gradient, first, second]);
      native.adamInPlace(
        heap,
        size,
        ...(offsets as [number, number, number, number]),
        attributes.learningRate,
        attributes.beta1,
        attributes.beta2,
        attributes.epsilon,
        attributes.weightDecay,
        attributes.firstCorrection,
        attributes.secondCorrection,
      );
      return [shareOutput(backend, variable), shareOutput(backend, first), shareOutput(backend, second)];
    }

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
