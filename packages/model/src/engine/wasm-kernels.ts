import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Kernels that training needs on the wasm backend and @tensorflow/tfjs-backend-wasm 4.22
 * does not provide, or provides in a form that is slow for training:
 *
 * - UnsortedSegmentSum is missing, and the gradient of gather (every embedding lookup) calls it.
 * - Identity: the stock kernel copies the tensor. The engine calls it for every tensor it
 *   saves for the backward pass, so a zero-copy version (shared, reference-counted data,
 *   as the cpu backend does) removes one copy per saved tensor.
 * - SlicedBatchMatMul (our own kernel name): the stock BatchMatMul sends a product to
 *   XNNPACK only when neither operand is transposed and the batch size is 1; any batched
 *   product (attention's Q K^T and A V) runs a scalar loop instead. This kernel runs one
 *   XNNPACK product per batch slice on the same wasm heap, without tfjs bookkeeping.
 *
 * These kernels read tfjs-backend-wasm internals (the heap, tensor ids, the exported C
 * function BatchMatMul); they are written against version 4.22.0.
 */

/** Kernel name of the batched product that keeps every slice on XNNPACK. */
export const SLICED_BATCH_MAT_MUL = 'SlicedBatchMatMul';

/** Switches for the kernels `registerWasmTrainingKernels` installs. Each defaults to true. */
export interface WasmKernelOptions {
  /** Replaces the copying Identity kernel with one that shares the input's data. */
  zeroCopyIdentity?: boolean;
  /** Registers SlicedBatchMatMul, which `matMul` uses for batched products. */
  slicedBatchMatMul?: boolean;
}

/** The parts of the wasm backend the kernels below use, beyond its public type. */
interface WasmInternals {
  dataIdNextNumber: number;
  wasm: {
    HEAPU8: Uint8Array;
    _malloc: (bytes: number) => number;
    _free: (pointer: number) => void;
    tfjs: { registerTensor: (id: number, size: number, offset: number) => void; disposeData: (id: number) => void };
    _BatchMatMul?: (
      aId: number,
      aShapePointer: number,
      aRank: number,
      bId: number,
      bShapePointer: number,
      bRank: number,
      transposeA: number,
      transposeB: number,
      outId: number,
    ) => void;
  };
}

const WASM = 'wasm';

let stockIdentity: tf.KernelConfig | undefined;

/**
 * Registers the training kernels for the wasm backend. Call it after
 * @tensorflow/tfjs-backend-wasm has been imported, because that import registers the stock
 * kernels over these. Calling it again applies new options, and a kernel switched off goes
 * back to the stock one.
 */
export function registerWasmTrainingKernels(options: WasmKernelOptions = {}): void {
  const { zeroCopyIdentity = true, slicedBatchMatMul = true } = options;

  if (tf.getKernel(tf.UnsortedSegmentSum, WASM) === undefined) {
    tf.registerKernel({ kernelName: tf.UnsortedSegmentSum, backendName: WASM, kernelFunc: unsortedSegmentSum });
  }

  const identity = tf.getKernel(tf.Identity, WASM);
  if (identity !== undefined && identity.kernelFunc !== shareIdentity) {
    stockIdentity = identity;
  }
  if (identity !== undefined) {
    tf.unregisterKernel(tf.Identity, WASM);
  }
  if (zeroCopyIdentity) {
    tf.registerKernel({ kernelName: tf.Identity, backendName: WASM, kernelFunc: shareIdentity });
  } else if (stockIdentity !== undefined) {
    tf.registerKernel(stockIdentity);
  }

  const sliced = tf.getKernel(SLICED_BATCH_MAT_MUL, WASM);
  if (slicedBatchMatMul && sliced === undefined) {
    tf.registerKernel({ kernelName: SLICED_BATCH_MAT_MUL, backendName: WASM, kernelFunc: slicedBatchMatMulKernel });
  } else if (!slicedBatchMatMul && sliced !== undefined) {
    tf.unregisterKernel(SLICED_BATCH_MAT_MUL, WASM);
  }
}

/** Returns whether the active backend is wasm with SlicedBatchMatMul registered. */
export function canRunSlicedBatchMatMul(): boolean {
  return tf.getBackend() === WASM && tf.getKernel(SLICED_BATCH_MAT_MUL, WASM) !== undefined;
}

/**
 * Multiplies a [batchA, m, k] by b [batchB, k, n] slice by slice on XNNPACK. batchA and
 * batchB are equal, or one of them is 1 and that slice meets every slice of the other.
 * Neither operand is transposed, so callers transpose explicitly first.
 */
export function slicedBatchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.engine().runKernel(SLICED_BATCH_MAT_MUL, { a, b }) as tf.Tensor3D;
}

/**
 * UnsortedSegmentSum on the wasm heap: out[s, ...] = sum of x[i, ...] over every row i with
 * segmentIds[i] = s. Like the cpu backend, it takes one id per row of x (rank-1 ids), and
 * drops ids outside [0, numSegments), as TensorFlow does.
 */
function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x!;
  const segmentIds = args.inputs.segmentIds!;
  const numSegments = Number(args.attrs?.numSegments);

  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum on wasm supports float32 and int32 values, got ${x.dtype}; cast x first`);
  }
  if (segmentIds.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum needs int32 segment ids, got ${segmentIds.dtype}`);
  }
  if (segmentIds.shape.length !== 1 || segmentIds.shape[0] !== x.shape[0]) {
    throw new Error(
      `UnsortedSegmentSum: segment ids of shape [${segmentIds.shape}] must be one id per row of x, ` +
        `whose shape is [${x.shape}]`,
    );
  }
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`UnsortedSegmentSum: numSegments must be a non-negative integer, got ${args.attrs?.numSegments}`);
  }

  const innerShape = x.shape.slice(1);
  const inner = tf.util.sizeFromShape(innerShape);
  const rows = x.shape[0]!;
  const out = backend.makeOutput([numSegments, ...innerShape], x.dtype);

  // Views on the heap are taken after makeOutput: an allocation can grow the wasm memory,
  // which detaches every view taken before it.
  const values = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  const sums = backend.typedArrayFromHeap(out);
  sums.fill(0);
  for (let row = 0; row < rows; row++) {
    const segment = ids[row]!;
    if (segment < 0 || segment >= numSegments) continue;
    const from = row * inner;
    const to = segment * inner;
    for (let j = 0; j < inner; j++) {
      sums[to + j]! += values[from + j]!;
    }
  }
  return out;
}

/** Identity that shares the input's data instead of copying it, which is safe because tensors are immutable. */
function shareIdentity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x!;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function slicedBatchMatMulKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const internals = args.backend as unknown as WasmInternals;
  const a = args.inputs.a!;
  const b = args.inputs.b!;
  const batchMatMul = internals.wasm._BatchMatMul;
  if (batchMatMul === undefined) {
    throw new Error('SlicedBatchMatMul: this tfjs-backend-wasm build does not export BatchMatMul; use version 4.22.0');
  }
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`SlicedBatchMatMul multiplies float32 tensors, got ${a.dtype} and ${b.dtype}`);
  }
  if (a.shape.length !== 3 || b.shape.length !== 3) {
    throw new Error(`SlicedBatchMatMul needs rank-3 operands, got [${a.shape}] and [${b.shape}]`);
  }

  const [batchA, m, k] = a.shape as [number, number, number];
  const [batchB, kB, n] = b.shape as [number, number, number];
  if (k !== kB) {
    throw new Error(`SlicedBatchMatMul: inner dimensions differ, a [${a.shape}] x b [${b.shape}]`);
  }
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    throw new Error(`SlicedBatchMatMul: batch sizes ${batchA} and ${batchB} differ and neither is 1`);
  }
  const batch = Math.max(batchA, batchB);
  const out = backend.makeOutput([batch, m, n], 'float32');
  if (batch === 0 || m === 0 || n === 0) return out;

  const module = internals.wasm;
  const aOffset = backend.getMemoryOffset(a.dataId);
  const bOffset = backend.getMemoryOffset(b.dataId);
  const outOffset = backend.getMemoryOffset(out.dataId);
  const aStride = batchA === 1 ? 0 : m * k * 4;
  const bStride = batchB === 1 ? 0 : k * n * 4;
  const outStride = m * n * 4;

  // The C function reads shapes as 32-bit integers from the heap: [1, m, k] then [1, k, n].
  const shapes = module._malloc(24) >>> 0;
  new Int32Array(module.HEAPU8.buffer, shapes, 6).set([1, m, k, 1, k, n]);

  // Each slice is registered as a tensor of its own that points into its operand. The
  // XNNPACK operator is cached on the id of b's slice and freed when that id is disposed,
  // so a shared b slice (batchB = 1) is packed once for the whole batch.
  const sharedB = batchB === 1 ? registerView(internals, bOffset, k * n) : 0;
  try {
    for (let i = 0; i < batch; i++) {
      const aId = registerView(internals, aOffset + i * aStride, m * k);
      const bId = sharedB !== 0 ? sharedB : registerView(internals, bOffset + i * bStride, k * n);
      const outId = registerView(internals, outOffset + i * outStride, m * n);
      batchMatMul(aId, shapes, 3, bId, shapes + 12, 3, 0, 0, outId);
      module.tfjs.disposeData(aId);
      if (bId !== sharedB) module.tfjs.disposeData(bId);
      module.tfjs.disposeData(outId);
    }
  } finally {
    if (sharedB !== 0) module.tfjs.disposeData(sharedB);
    module._free(shapes);
  }
  return out;
}

/** Registers `size` floats at byte `offset` of the heap as a tensor id of their own. */
function registerView(internals: WasmInternals, offset: number, size: number): number {
  const id = internals.dataIdNextNumber++;
  internals.wasm.tfjs.registerTensor(id, size, offset);
  return id;
}
