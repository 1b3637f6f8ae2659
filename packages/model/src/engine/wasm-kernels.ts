import * as tf from '@tensorflow/tfjs-core';
import { ADAM_UPDATE } from './adam.ts';
import { adamUpdateKernel } from './wasm/adam-update.ts';
import { nativeKernels } from './native.ts';
import { createGather } from './wasm/gather.ts';
import { shareIdentity } from './wasm/identity.ts';
import type { KernelArgs } from './wasm/internals.ts';
import { createNativeAdamUpdate } from './wasm/native-adam-update.ts';
import { createNativeAttention, createNativeAttentionGrad } from './wasm/native-attention.ts';
import { createNativeGelu, createNativeGeluGrad } from './wasm/native-gelu.ts';
import { createNativeLayerNorm, createNativeLayerNormGrad } from './wasm/native-layer-norm.ts';
import { createNativeMatMul } from './wasm/native-mat-mul.ts';
import { slicedBatchMatMulKernel } from './wasm/sliced-batch-mat-mul.ts';
import { createTranspose } from './wasm/transpose.ts';
import { unsortedSegmentSum } from './wasm/unsorted-segment-sum.ts';

/**
 * Kernels that training needs on the wasm backend and @tensorflow/tfjs-backend-wasm 4.22
 * lacks or runs slowly. They read the backend's internals (heap, tensor ids, the exported
 * C function BatchMatMul), so they are written against version 4.22.0.
 */

/** Kernel name of the batched product that keeps every slice on XNNPACK. */
export const SLICED_BATCH_MAT_MUL = 'SlicedBatchMatMul';

/** Kernel names of the native kernel module's kernels, registered when the module loads. */
export const NATIVE_MAT_MUL = 'NativeMatMul';
export const NATIVE_GELU = 'NativeGelu';
export const NATIVE_GELU_GRAD = 'NativeGeluGrad';
export const NATIVE_LAYER_NORM = 'NativeLayerNorm';
export const NATIVE_LAYER_NORM_GRAD = 'NativeLayerNormGrad';
export const NATIVE_ATTENTION = 'NativeAttention';
export const NATIVE_ATTENTION_GRAD = 'NativeAttentionGrad';

/** Switches for the kernels `registerWasmTrainingKernels` installs. Each defaults to true. */
export interface WasmKernelOptions {
  /**
   * Replaces the copying Identity kernel with one that shares the input's data, and
   * Transpose with one that shares it when the permutation keeps every axis in place.
   */
  zeroCopyIdentity?: boolean;
  /** Registers SlicedBatchMatMul, which `matMul` uses for batched products. */
  slicedBatchMatMul?: boolean;
  /** Replaces GatherV2 with a kernel that copies whole rows (embedding lookups). */
  sliceGather?: boolean;
  /** Registers AdamUpdate, which `adamUpdate` uses for a whole update in one kernel. */
  fusedAdam?: boolean;
  /**
   * Registers the native kernel module's kernels when the module (`npm run build:native`)
   * loads: `matMul` and `linear` then multiply on OpenBLAS instead of XNNPACK, `gelu`,
   * `layerNorm` and `attention` run one C kernel each way, and AdamUpdate runs in C.
   */
  nativeKernels?: boolean;
}

const WASM = 'wasm';

/** The backend's own kernels, kept so that a switched-off replacement can be undone. */
const stockKernels = new Map<string, tf.KernelConfig>();
const replacements = new Map<string, tf.KernelConfig['kernelFunc']>();

type OwnKernelFunc = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/** The native module's kernel functions by name, created once. */
let nativeFuncs: Record<string, OwnKernelFunc> | undefined;

/**
 * Registers the training kernels for the wasm backend: UnsortedSegmentSum (missing, and
 * needed by the gradient of gather), SlicedBatchMatMul, AdamUpdate, the native module's
 * kernels when it loads, and faster Identity, Transpose and GatherV2.
 * Call it after @tensorflow/tfjs-backend-wasm has been imported, because that import
 * registers the stock kernels over these. Calling it again applies new options, and a
 * kernel switched off goes back to the stock one.
 */
export function registerWasmTrainingKernels(options: WasmKernelOptions = {}): void {
  const { zeroCopyIdentity = true, slicedBatchMatMul = true, sliceGather = true, fusedAdam = true, nativeKernels: useNative = true } = options;

  if (tf.getKernel(tf.UnsortedSegmentSum, WASM) === undefined) {
    tf.registerKernel({ kernelName: tf.UnsortedSegmentSum, backendName: WASM, kernelFunc: unsortedSegmentSum });
  }

  const native = useNative ? createNativeFuncs() : undefined;
  setOwnKernel(SLICED_BATCH_MAT_MUL, slicedBatchMatMul ? slicedBatchMatMulKernel : undefined);
  setOwnKernel(ADAM_UPDATE, fusedAdam ? (native?.[ADAM_UPDATE] ?? adamUpdateKernel) : undefined);
  for (const name of [NATIVE_MAT_MUL, NATIVE_GELU, NATIVE_GELU_GRAD, NATIVE_LAYER_NORM, NATIVE_LAYER_NORM_GRAD, NATIVE_ATTENTION, NATIVE_ATTENTION_GRAD]) {
    setOwnKernel(name, native?.[name]);
  }

  replaceStockKernel(tf.Identity, zeroCopyIdentity, () => shareIdentity);
  replaceStockKernel(tf.Transpose, zeroCopyIdentity, (stock) => createTranspose(stock));
  replaceStockKernel(tf.GatherV2, sliceGather, (stock) => createGather(stock));
}

/** Returns whether the active backend is wasm with SlicedBatchMatMul registered. */
export function canRunSlicedBatchMatMul(): boolean {
  return tf.getBackend() === WASM && tf.getKernel(SLICED_BATCH_MAT_MUL, WASM) !== undefined;
}

/** Returns whether the active backend is wasm with the native kernel `name` registered. */
export function canRunNative(name: string): boolean {
  return tf.getBackend() === WASM && tf.getKernel(name, WASM) !== undefined;
}

/**
 * Computes op(a) op(b) (+ bias [n]) on OpenBLAS for a [batchA, m, k] and b [batchB, k, n]
 * before the transposes (wasm with the native module only). batchA and batchB are equal,
 * or one of them is 1.
 */
export function nativeMatMul(a: tf.Tensor3D, b: tf.Tensor3D, transposeA: boolean, transposeB: boolean, bias?: tf.Tensor1D): tf.Tensor3D {
  const inputs: tf.NamedTensorMap = bias === undefined ? { a, b } : { a, b, bias };
  return tf.engine().runKernel(NATIVE_MAT_MUL, inputs, { transposeA, transposeB }) as tf.Tensor3D;
}

/**
 * Multiplies a [batchA, m, k] by b [batchB, k, n] slice by slice on XNNPACK (wasm only).
 * batchA and batchB are equal, or one of them is 1. Neither operand is transposed.
 */
export function slicedBatchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.engine().runKernel(SLICED_BATCH_MAT_MUL, { a, b }) as tf.Tensor3D;
}

/** Registers `kernelFunc` under `name` for wasm, replacing another function, or unregisters the name. */
function setOwnKernel(name: string, kernelFunc: OwnKernelFunc | undefined): void {
  const current = tf.getKernel(name, WASM);
  if (current?.kernelFunc === kernelFunc) return;
  if (current !== undefined) tf.unregisterKernel(name, WASM);
  if (kernelFunc !== undefined) {
    tf.registerKernel({ kernelName: name, backendName: WASM, kernelFunc: kernelFunc as tf.KernelConfig['kernelFunc'] });
  }
}

/** Returns the native module's kernel functions by kernel name, or undefined without the module. */
function createNativeFuncs(): Record<string, OwnKernelFunc> | undefined {
  const native = nativeKernels();
  if (native === undefined) return undefined;
  nativeFuncs ??= {
    [NATIVE_MAT_MUL]: createNativeMatMul(native),
    [NATIVE_GELU]: createNativeGelu(native),
    [NATIVE_GELU_GRAD]: createNativeGeluGrad(native),
    [NATIVE_LAYER_NORM]: createNativeLayerNorm(native),
    [NATIVE_LAYER_NORM_GRAD]: createNativeLayerNormGrad(native),
    [NATIVE_ATTENTION]: createNativeAttention(native),
    [NATIVE_ATTENTION_GRAD]: createNativeAttentionGrad(native),
    [ADAM_UPDATE]: createNativeAdamUpdate(native),
  };
  return nativeFuncs;
}

/**
 * Registers the replacement of the stock wasm kernel `name` when `enabled`, or restores the
 * stock kernel. `create` receives the stock kernel, for inputs the replacement hands back.
 */
function replaceStockKernel(
  name: string,
  enabled: boolean,
  create: (stock: tf.KernelConfig) => (args: KernelArgs) => tf.TensorInfo,
): void {
  const current = tf.getKernel(name, WASM);
  if (current === undefined) {
    throw new Error(`the wasm backend has no ${name} kernel; import @tensorflow/tfjs-backend-wasm before registering`);
  }
  if (current.kernelFunc !== replacements.get(name)) stockKernels.set(name, current);
  const stock = stockKernels.get(name)!;

  let wanted = stock.kernelFunc;
  if (enabled) {
    if (!replacements.has(name)) replacements.set(name, create(stock) as tf.KernelConfig['kernelFunc']);
    wanted = replacements.get(name)!;
  }
  if (current.kernelFunc === wanted) return;

  tf.unregisterKernel(name, WASM);
  tf.registerKernel(enabled ? { kernelName: name, backendName: WASM, kernelFunc: wanted } : stock);
}
