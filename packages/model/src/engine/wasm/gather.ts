import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { input, stockRunner, type KernelArgs, type WasmInternals } from './internals.ts';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/**
 * Creates a GatherV2 kernel that copies whole slices on the wasm heap. tfjs-backend-wasm
 * 4.22's own kernel moves one element at a time, which made an embedding lookup about as
 * slow as a hidden-64 matmul, and returns wrong values for batched gathers (batchDims 1).
 * Bool tensors go to `stock`, the backend's own kernel.
 */
export function createGather(stock: tf.KernelConfig): KernelFunc {
  const runStock = stockRunner(stock);

  return (args) => {
    const x = input(args, 'x', 'GatherV2');
    const indices = input(args, 'indices', 'GatherV2');
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32') {
      return runStock(args);
    }
    const axis = tf.util.parseAxisParam(Number(args.attrs?.axis ?? 0), x.shape)[0]!;
    let batchDims = Number(args.attrs?.batchDims ?? 0);
    if (batchDims < 0) batchDims += indices.shape.length;
    if (!Number.isInteger(batchDims) || batchDims < 0 || batchDims > axis || batchDims > indices.shape.length) {
      throw new Error(`GatherV2: batchDims ${args.attrs?.batchDims} must be in [0, ${Math.min(axis, indices.shape.length)}]`);
    }
    return gatherSlices(args.backend as BackendWasm, x, indices, axis, batchDims);
  };
}

/**
 * out[b, o, i, ...] = x[b, o, indices[b, i], ...] for x [batch, outer, size, inner] and
 * indices [batch, count], copied slice by slice; batch covers the first batchDims axes.
 */
function gatherSlices(
  backend: BackendWasm,
  x: tf.TensorInfo,
  indices: tf.TensorInfo,
  axis: number,
  batchDims: number,
): tf.TensorInfo {
  const batch = tf.util.sizeFromShape(x.shape.slice(0, batchDims));
  const outer = tf.util.sizeFromShape(x.shape.slice(batchDims, axis));
  const size = x.shape[axis]!;
  const inner = tf.util.sizeFromShape(x.shape.slice(axis + 1));
  const count = tf.util.sizeFromShape(indices.shape.slice(batchDims));
  const outShape = [...x.shape.slice(0, axis), ...indices.shape.slice(batchDims), ...x.shape.slice(axis + 1)];
  const out = backend.makeOutput(outShape, x.dtype);
  if (batch * outer * count * inner === 0) return out;

  // Views and offsets are read after makeOutput, whose allocation can grow (and detach) the heap.
  const ids = backend.typedArrayFromHeap(indices);
  const heap = new Int32Array((backend as unknown as WasmInternals).wasm.HEAPU8.buffer);
  const xStart = backend.getMemoryOffset(x.dataId) / 4;
  const outStart = backend.getMemoryOffset(out.dataId) / 4;
  for (let i = 0; i < ids.length; i++) {
    const index = ids[i]!;
    if (!(index >= 0 && index < size)) {
      backend.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${index} is not in [0, ${size - 1}]`);
    }
  }

  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < outer; o++) {
      const xSlice = xStart + (b * outer + o) * size * inner;
      const outSlice = outStart + (b * outer + o) * count * inner;
      for (let i = 0; i < count; i++) {
        const from = xSlice + ids[b * count + i]! * inner;
        heap.copyWithin(outSlice + i * inner, from, from + inner);
      }
    }
  }
  return out;
}
