import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { input, type KernelArgs } from './internals.ts';

/**
 * Applies one Adam (or AdamW) update of a float32 variable in a single pass over the wasm
 * heap and returns [variable, first moment, second moment]. tfjs composes the same update
 * from about a dozen kernels per variable, and for the small tensors of a transformer layer
 * the cost of launching them exceeds the arithmetic.
 */
export function adamUpdateKernel(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const variable = input(args, 'variable', 'AdamUpdate');
  const gradient = input(args, 'gradient', 'AdamUpdate');
  const first = input(args, 'first', 'AdamUpdate');
  const second = input(args, 'second', 'AdamUpdate');
  const attrs = args.attrs ?? {};
  const learningRate = Number(attrs.learningRate);
  const beta1 = Number(attrs.beta1);
  const beta2 = Number(attrs.beta2);
  const epsilon = Number(attrs.epsilon);
  const weightDecay = Number(attrs.weightDecay);
  const firstCorrection = Number(attrs.firstCorrection);
  const secondCorrection = Number(attrs.secondCorrection);

  const size = variable.shape.reduce((product, dimension) => product * dimension, 1);
  for (const [name, tensor] of [['gradient', gradient], ['first', first], ['second', second]] as const) {
    const tensorSize = tensor.shape.reduce((product, dimension) => product * dimension, 1);
    if (tensor.dtype !== 'float32' || tensorSize !== size) {
      throw new Error(`AdamUpdate: ${name} [${tensor.shape}] ${tensor.dtype} must be float32 of the variable's shape [${variable.shape}]`);
    }
  }

  const outVariable = backend.makeOutput(variable.shape, 'float32');
  const outFirst = backend.makeOutput(variable.shape, 'float32');
  const outSecond = backend.makeOutput(variable.shape, 'float32');

  // Views are taken after the allocations above, which can grow (and detach) the heap.
  const w = backend.typedArrayFromHeap(variable);
  const g = backend.typedArrayFromHeap(gradient);
  const m = backend.typedArrayFromHeap(first);
  const v = backend.typedArrayFromHeap(second);
  const wOut = backend.typedArrayFromHeap(outVariable);
  const mOut = backend.typedArrayFromHeap(outFirst);
  const vOut = backend.typedArrayFromHeap(outSecond);
  const decay = learningRate * weightDecay;
  for (let i = 0; i < size; i++) {
    const gi = g[i]!;
    const mi = beta1 * m[i]! + (1 - beta1) * gi;
    const vi = beta2 * v[i]! + (1 - beta2) * gi * gi;
    mOut[i] = mi;
    vOut[i] = vi;
    wOut[i] = w[i]! - (learningRate * (mi / firstCorrection)) / (Math.sqrt(vi / secondCorrection) + epsilon) - decay * w[i]!;
  }
  return [outVariable, outFirst, outSecond];
}
