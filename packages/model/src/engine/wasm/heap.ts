import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { WasmInternals } from './internals.ts';

/**
 * Returns the wasm heap's ArrayBuffer and the byte offset of each tensor in it, for the
 * native kernel module. Call it after every output is allocated, because an allocation can
 * grow the heap, which replaces its buffer.
 */
export function heapOffsets(backend: BackendWasm, tensors: tf.TensorInfo[]): { heap: ArrayBuffer; offsets: number[] } {
  const heap = (backend as unknown as WasmInternals).wasm.HEAPU8.buffer as ArrayBuffer;
  return { heap, offsets: tensors.map((tensor) => backend.getMemoryOffset(tensor.dataId)) };
}

/** Throws unless every tensor is float32; `kernel` names the caller in the message. */
export function requireFloat32(kernel: string, tensors: Record<string, tf.TensorInfo>): void {
  for (const [name, tensor] of Object.entries(tensors)) {
    if (tensor.dtype !== 'float32') throw new Error(`${kernel}: ${name} [${tensor.shape}] must be float32, got ${tensor.dtype}`);
  }
}
