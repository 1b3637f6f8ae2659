import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeKernels } from '@mcm/native-kernels';
import { heapOffsets, requireFloat32 } from './heap.ts';
import { input, type KernelArgs } from './internals.ts';

/**
 * Creates NativeLayerNorm: for x [rows, hidden], gamma and beta [hidden], returns
 * [y, normalized] of x's shape and inverseDeviation [rows, 1], with
 * normalized = (x - mean) / sqrt(variance + epsilon) (biased variance) and
 * y = normalized gamma + beta.
 */
export function createNativeLayerNorm(native: NativeKernels): (args: KernelArgs) => tf.TensorInfo[] {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const x = input(args, 'x', 'NativeLayerNorm');
    const gamma = input(args, 'gamma', 'NativeLayerNorm');
    const beta = input(args, 'beta', 'NativeLayerNorm');
    const epsilon = Number(args.attrs?.epsilon);
    requireFloat32('NativeLayerNorm', { x, gamma, beta });
    const [rows, hidden] = rowsAndHidden('NativeLayerNorm', x, gamma, beta);

    const y = backend.makeOutput(x.shape, 'float32');
    const normalized = backend.makeOutput(x.shape, 'float32');
    const inverseDeviation = backend.makeOutput([rows, 1], 'float32');
    const { heap, offsets } = heapOffsets(backend, [x, gamma, beta, y, normalized, inverseDeviation]);
    native.layerNorm(heap, rows, hidden, epsilon, ...(offsets as [number, number, number, number, number, number]));
    return [y, normalized, inverseDeviation];
  };
}

/**
 * Creates NativeLayerNormGrad: from dy and normalized [rows, hidden], inverseDeviation
 * [rows, 1] and gamma [hidden], returns [dx, dGamma, dBeta].
 */
export function createNativeLayerNormGrad(native: NativeKernels): (args: KernelArgs) => tf.TensorInfo[] {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const dy = input(args, 'dy', 'NativeLayerNormGrad');
    const normalized = input(args, 'normalized', 'NativeLayerNormGrad');
    const inverseDeviation = input(args, 'inverseDeviation', 'NativeLayerNormGrad');
    const gamma = input(args, 'gamma', 'NativeLayerNormGrad');
    requireFloat32('NativeLayerNormGrad', { dy, normalized, inverseDeviation, gamma });
    const [rows, hidden] = rowsAndHidden('NativeLayerNormGrad', dy, gamma, gamma);
    if (!tf.util.arraysEqual(normalized.shape, dy.shape) || tf.util.sizeFromShape(inverseDeviation.shape) !== rows) {
      throw new Error(
        `NativeLayerNormGrad: normalized [${normalized.shape}] must match dy [${dy.shape}] and inverseDeviation ` +
          `[${inverseDeviation.shape}] must hold ${rows} rows`,
      );
    }

    const dx = backend.makeOutput(dy.shape, 'float32');
    const dGamma = backend.makeOutput([hidden], 'float32');
    const dBeta = backend.makeOutput([hidden], 'float32');
    const { heap, offsets } = heapOffsets(backend, [dy, normalized, inverseDeviation, gamma, dx, dGamma, dBeta]);
    native.layerNormGrad(heap, rows, hidden, ...(offsets as [number, number, number, number, number, number, number]));
    return [dx, dGamma, dBeta];
  };
}

/** Returns [rows, hidden] of a rank-2 x whose last axis matches gamma and beta, or throws. */
function rowsAndHidden(kernel: string, x: tf.TensorInfo, gamma: tf.TensorInfo, beta: tf.TensorInfo): [number, number] {
  if (x.shape.length !== 2) throw new Error(`${kernel}: x [${x.shape}] must be rank 2, [rows, hidden]`);
  const [rows, hidden] = x.shape as [number, number];
  if (gamma.shape.length !== 1 || gamma.shape[0] !== hidden || beta.shape.length !== 1 || beta.shape[0] !== hidden) {
    throw new Error(`${kernel}: gamma [${gamma.shape}] and beta [${beta.shape}] must both be [${hidden}], the last axis of [${x.shape}]`);
  }
  return [rows, hidden];
}
