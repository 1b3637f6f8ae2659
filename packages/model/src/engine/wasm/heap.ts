import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { WasmInternals } from './internals.ts';

/**
 * Returns the wasm heap's ArrayBuffer and the byte offset of each tensor in it, for the
 * native kernel module. Call it after every output is allocated, because an allocation can
 * grow the heap, which replaces its buffer.
 */
export function heapOffsets(backend: BackendWasm, tensors: tf.TensorInfo[]): { heap: ArrayBuffer; offsets: number[] } {
  const heap = (backend as unknown as WasmInternals).wasm.HEAPU8.buffer as ArrayBuffer;
  const offsets = tensors.map((tensor) => backend.getMemoryOffset(tensor.dataId));
  offsets.forEach((offset, i) => {
    // tfjs-backend-wasm 4.22 does not check malloc, which returns 0 when the heap is full.
    const shape = tensors[i]!.shape;
    if (offset === 0 && tf.util.sizeFromShape(shape) > 0) {
      throw new Error(
        `the wasm heap is full (${heap.byteLength} bytes; its limit is 4 GiB): a tensor of shape [${shape}] got no memory. ` +
          'Use a smaller batch, a sampled softmax (fewer candidates) or a smaller vocabulary',
      );
    }
  });
  return { heap, offsets };
}

/** Throws unless every tensor is float32; `kernel` names the caller in the message. */
export function requireFloat32(kernel: string, tensors: Record<string, tf.TensorInfo>): void {
  for (const [name, tensor] of Object.entries(tensors)) {
    if (tensor.dtype !== 'float32') throw new Error(`${kernel}: ${name} [${tensor.shape}] must be float32, got ${tensor.dtype}`);
  }
}
