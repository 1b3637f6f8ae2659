import * as tf from '@tensorflow/tfjs-core';
import type { WasmInternals } from './wasm/internals.ts';

/**
 * Returns the float32 values of `tensor` without copying them where the backend allows.
 * On wasm that is a view of the tensor's bytes in the wasm heap, and on cpu the backend's
 * own array. Elsewhere (tensorflow) it is `dataSync()`, which copies.
 *
 * The view is only valid until the next tensor operation: an allocation can grow the wasm
 * heap, which replaces the buffer under the view, and a disposal can hand the bytes to
 * another tensor. Read or copy it at once, and never write to it.
 *
 * Why: `dataSync()` on wasm copies the tensor into a new ArrayBuffer. Reading a step's
 * gradients or weights that way allocates megabytes outside the JS heap per step, which V8
 * counts towards its next full garbage collection.
 */
export function valuesView(tensor: tf.Tensor): Float32Array {
  if (tensor.dtype !== 'float32') throw new Error(`valuesView reads float32 tensors, got ${tensor.dtype} [${tensor.shape}]`);
  if (tf.getBackend() !== 'wasm') return tensor.dataSync() as Float32Array;

  const backend = tf.backend() as unknown as WasmInternals;
  const record = backend.dataIdMap.get(tensor.dataId);
  // The data of a tensor made on another backend stays there, and dataSync reads it from there.
  if (record === undefined) return tensor.dataSync() as Float32Array;
  return new Float32Array(backend.wasm.HEAPU8.buffer, record.memoryOffset, tensor.size);
}
