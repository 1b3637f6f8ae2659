import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { input, type KernelArgs, type WasmInternals } from './internals.ts';

/** The inputs of AdamUpdate, checked, and the number of values in each. */
export interface AdamInputs {
  variable: tf.TensorInfo;
  gradient: tf.TensorInfo;
  first: tf.TensorInfo;
  second: tf.TensorInfo;
  size: number;
}

/** AdamUpdate's attributes as numbers, with the bias corrections 1 - beta^step. */
export interface AdamAttributes {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  firstCorrection: number;
  secondCorrection: number;
}

/**
 * Applies one Adam (or AdamW) update of a float32 variable in a single pass over the wasm
 * heap and returns [variable, first moment, second moment]. tfjs composes the same update
 * from about a dozen kernels per variable, and for the small tensors of a transformer layer
 * the cost of launching them exceeds the arithmetic. The update is written over the inputs
 * when `canUpdateInPlace` allows it.
 */
export function adamUpdateKernel(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { variable, gradient, first, second, size } = checkAdamInputs(args);
  const { learningRate, beta1, beta2, epsilon, weightDecay, firstCorrection, secondCorrection } = readAdamAttributes(args);

  const inPlace = canUpdateInPlace(backend, { variable, gradient, first, second, size }, args);
  const outVariable = inPlace ? shareOutput(backend, variable) : backend.makeOutput(variable.shape, 'float32');
  const outFirst = inPlace ? shareOutput(backend, first) : backend.makeOutput(variable.shape, 'float32');
  const outSecond = inPlace ? shareOutput(backend, second) : backend.makeOutput(variable.shape, 'float32');

  // Views are taken after the allocations above, which can grow (and detach) the heap.
  const w = backend.typedArrayFromHeap(variable);
  const g = backend.typedArrayFromHeap(gradient);
  const m = backend.typedArrayFromHeap(first);
  const v = backend.typedArrayFromHeap(second);
  const wOut = backend.typedArrayFromHeap(outVariable);
  const mOut = backend.typedArrayFromHeap(outFirst);
  const vOut = backend.typedArrayFromHeap(outSecond);
  const decay = learningRate * weightDecay;
  // Element i is read before it is written, so the loop is also correct in place.
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

/**
 * Returns whether the update may be written over the variable and the moments: the caller
 * allowed it (attribute inPlace), each is referenced by nothing else (backend reference
 * count 1), and the gradient is a different tensor.
 * Writing in place saves three allocations of the variable's size, 768 MB per step for a
 * [1,000,000, 64] table, and leaves every other tensor's values as they were.
 */
export function canUpdateInPlace(backend: BackendWasm, inputs: AdamInputs, args: KernelArgs): boolean {
  if (args.attrs?.inPlace !== true) return false;
  const { variable, gradient, first, second } = inputs;
  const states = [variable, first, second];
  const distinct = new Set([...states, gradient].map((tensor) => tensor.dataId)).size === 4;
  return distinct && states.every((tensor) => backend.refCount(tensor.dataId) === 1);
}

/**
 * Returns `tensor` as a kernel output that shares its data, for a kernel that writes the
 * output over it.
 *
 * tfjs-backend-wasm 4.22 packs the right operand and the bias of an XNNPACK product into an
 * operator the first time it meets their tensor ids, caches the operator on those ids and
 * frees it only when an id is disposed. A variable written in place keeps its id, so without
 * more work every later product with it (a dense layer's forward pass) would read the packed
 * copy of its old values. Disposing the id on the C side and registering it again at the
 * same memory frees those operators and keeps the data.
 */
export function shareOutput(backend: BackendWasm, tensor: tf.TensorInfo): tf.TensorInfo {
  const internals = backend as unknown as WasmInternals;
  const record = internals.dataIdMap.get(tensor.dataId);
  if (record === undefined) throw new Error(`AdamUpdate: tensor [${tensor.shape}] has no data on the wasm backend`);
  internals.wasm.tfjs.disposeData(record.id);
  internals.wasm.tfjs.registerTensor(record.id, tf.util.sizeFromShape(tensor.shape), record.memoryOffset);

  backend.incRef(tensor.dataId);
  return { dataId: tensor.dataId, shape: tensor.shape, dtype: tensor.dtype };
}

/** Returns AdamUpdate's inputs, or throws unless all four are float32 of one size. */
export function checkAdamInputs(args: KernelArgs): AdamInputs {
  const variable = input(args, 'variable', 'AdamUpdate');
  const gradient = input(args, 'gradient', 'AdamUpdate');
  const first = input(args, 'first', 'AdamUpdate');
  const second = input(args, 'second', 'AdamUpdate');
  const size = variable.shape.reduce((product, dimension) => product * dimension, 1);
  for (const [name, tensor] of [['variable', variable], ['gradient', gradient], ['first', first], ['second', second]] as const) {
    const tensorSize = tensor.shape.reduce((product, dimension) => product * dimension, 1);
    if (tensor.dtype !== 'float32' || tensorSize !== size) {
      throw new Error(`AdamUpdate: ${name} [${tensor.shape}] ${tensor.dtype} must be float32 of the variable's shape [${variable.shape}]`);
    }
  }
  return { variable, gradient, first, second, size };
}

export function readAdamAttributes(args: KernelArgs): AdamAttributes {
  const attrs = args.attrs ?? {};
  return {
    learningRate: Number(attrs.learningRate),
    beta1: Number(attrs.beta1),
    beta2: Number(attrs.beta2),
    epsilon: Number(attrs.epsilon),
    weightDecay: Number(attrs.weightDecay),
    firstCorrection: Number(attrs.firstCorrection),
    secondCorrection: Number(attrs.secondCorrection),
  };
}
