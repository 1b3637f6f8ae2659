import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { input, type KernelArgs, type WasmInternals } from './internals.ts';

/**
 * Multiplies a [batchA, m, k] by b [batchB, k, n] with one XNNPACK product per batch slice.
 * tfjs-backend-wasm 4.22 sends a product to XNNPACK only when neither operand is transposed
 * and the batch size is 1, and runs every other product on a scalar loop. Here each slice
 * is registered as a tensor of its own that points into its operand, and the backend's
 * exported BatchMatMul runs on it with batch size 1, without tfjs's per-kernel bookkeeping.
 * batchA and batchB are equal, or one of them is 1 and that slice meets every slice of the
 * other. Neither operand is transposed, so callers transpose explicitly first.
 */
export function slicedBatchMatMulKernel(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const internals = args.backend as unknown as WasmInternals;
  const a = input(args, 'a', 'SlicedBatchMatMul');
  const b = input(args, 'b', 'SlicedBatchMatMul');
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
  const views = viewIds(internals);

  // The C function reads shapes as 32-bit integers from the heap: [1, m, k] then [1, k, n].
  const shapes = module._malloc(24) >>> 0;
  new Int32Array(module.HEAPU8.buffer, shapes, 6).set([1, m, k, 1, k, n]);

  // Each slice is registered under a view id that points into its operand. The XNNPACK
  // operator is cached on b's id and freed when that id is disposed, so a shared b slice
  // (batchB = 1) stays registered and is packed once for the whole batch.
  if (batchB === 1) module.tfjs.registerTensor(views.b, k * n, bOffset);
  try {
    for (let i = 0; i < batch; i++) {
      module.tfjs.registerTensor(views.a, m * k, aOffset + i * aStride);
      if (batchB !== 1) module.tfjs.registerTensor(views.b, k * n, bOffset + i * bStride);
      module.tfjs.registerTensor(views.out, m * n, outOffset + i * outStride);
      batchMatMul(views.a, shapes, 3, views.b, shapes + 12, 3, 0, 0, views.out);
      module.tfjs.disposeData(views.a);
      if (batchB !== 1) module.tfjs.disposeData(views.b);
      module.tfjs.disposeData(views.out);
    }
  } finally {
    // Disposing an id that is not registered does nothing, and a view left registered
    // after an error would make the next registration of its id a no-op.
    module.tfjs.disposeData(views.a);
    module.tfjs.disposeData(views.b);
    module.tfjs.disposeData(views.out);
    module._free(shapes);
  }
  return out;
}

/**
 * Three tensor ids reserved once per backend for slice views. Reusing them keeps the
 * backend's id counter, which the C side reads as a 32-bit integer, from running through
 * three ids per slice: about 14,000 per step of the benchmark model, which would wrap
 * after some 300,000 steps.
 */
const reservedViewIds = new WeakMap<object, { a: number; b: number; out: number }>();

function viewIds(internals: WasmInternals): { a: number; b: number; out: number } {
  let ids = reservedViewIds.get(internals);
  if (ids === undefined) {
    ids = { a: internals.dataIdNextNumber++, b: internals.dataIdNextNumber++, out: internals.dataIdNextNumber++ };
    reservedViewIds.set(internals, ids);
  }
  return ids;
}
