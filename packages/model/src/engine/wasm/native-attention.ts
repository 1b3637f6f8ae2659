import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeKernels } from '@mcm/native-kernels';
import { heapOffsets, requireFloat32 } from './heap.ts';
import { input, type KernelArgs } from './internals.ts';

/** Batch, length and hidden size of q [batch, length, hidden], checked against k, v and the head count. */
function attentionShape(kernel: string, args: KernelArgs, q: tf.TensorInfo): { batch: number; length: number; heads: number; headSize: number; scale: number } {
  if (q.shape.length !== 3) throw new Error(`${kernel}: q [${q.shape}] must be rank 3, [batch, length, hidden]`);
  const [batch, length, hidden] = q.shape as [number, number, number];
  for (const name of ['k', 'v']) {
    const tensor = input(args, name, kernel);
    if (!tf.util.arraysEqual(tensor.shape, q.shape)) throw new Error(`${kernel}: ${name} [${tensor.shape}] must have q's shape [${q.shape}]`);
  }
  const heads = Number(args.attrs?.heads);
  if (!Number.isInteger(heads) || heads < 1 || hidden % heads !== 0) {
    throw new Error(`${kernel}: heads ${args.attrs?.heads} must be a positive divisor of the hidden size ${hidden}`);
  }
  return { batch, length, heads, headSize: hidden / heads, scale: Number(args.attrs?.scale) };
}

/** Returns the keep (dropout) input, checked to be [batch, heads, length, length], or undefined. */
function keepInput(kernel: string, args: KernelArgs, batch: number, heads: number, length: number): tf.TensorInfo | undefined {
  const keep = args.inputs.keep;
  if (keep === undefined) return undefined;
  if (!tf.util.arraysEqual(keep.shape, [batch, heads, length, length])) {
    throw new Error(`${kernel}: keep [${keep.shape}] must be [${batch}, ${heads}, ${length}, ${length}]`);
  }
  return keep;
}

/**
 * Creates NativeAttention: from q, k, v [batch, length, hidden], an additive mask
 * [batch or 1, 1, length or 1, length] and optional dropout multipliers keep
 * [batch, heads, length, length], returns [probabilities [batch, heads, length, length],
 * context [batch, length, hidden]] with probabilities = softmax(scale q k^T + mask) per head
 * and context = (probabilities * keep) v, heads side by side as in the inputs.
 */
export function createNativeAttention(native: NativeKernels): (args: KernelArgs) => tf.TensorInfo[] {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const q = input(args, 'q', 'NativeAttention');
    const k = input(args, 'k', 'NativeAttention');
    const v = input(args, 'v', 'NativeAttention');
    const mask = input(args, 'mask', 'NativeAttention');
    const { batch, length, heads, headSize, scale } = attentionShape('NativeAttention', args, q);
    const keep = keepInput('NativeAttention', args, batch, heads, length);
    requireFloat32('NativeAttention', keep === undefined ? { q, k, v, mask } : { q, k, v, mask, keep });
    const { batchStride, rowStride } = maskStrides(mask, batch, length);

    const probabilities = backend.makeOutput([batch, heads, length, length], 'float32');
    const context = backend.makeOutput(q.shape, 'float32');
    const operands = [q, k, v, mask, probabilities, context, ...(keep === undefined ? [] : [keep])];
    const { heap, offsets } = heapOffsets(backend, operands);
    native.attentionForward(
      heap,
      batch,
      length,
      heads,
      headSize,
      scale,
      batchStride,
      rowStride,
      offsets[0]!,
      offsets[1]!,
      offsets[2]!,
      offsets[3]!,
      keep === undefined ? -1 : offsets[6]!,
      offsets[4]!,
      offsets[5]!,
    );
    return [probabilities, context];
  };
}

/**
 * Creates NativeAttentionGrad: from q, k, v, the saved probabilities, keep (when the forward
 * pass had it) and dContext [batch, length, hidden], returns [dq, dk, dv].
 */
export function createNativeAttentionGrad(native: NativeKernels): (args: KernelArgs) => tf.TensorInfo[] {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const q = input(args, 'q', 'NativeAttentionGrad');
    const k = input(args, 'k', 'NativeAttentionGrad');
    const v = input(args, 'v', 'NativeAttentionGrad');
    const probabilities = input(args, 'probabilities', 'NativeAttentionGrad');
    const dContext = input(args, 'dContext', 'NativeAttentionGrad');
    const { batch, length, heads, headSize, scale } = attentionShape('NativeAttentionGrad', args, q);
    const keep = keepInput('NativeAttentionGrad', args, batch, heads, length);
    requireFloat32('NativeAttentionGrad', keep === undefined ? { q, k, v, probabilities, dContext } : { q, k, v, probabilities, dContext, keep });
    if (!tf.util.arraysEqual(probabilities.shape, [batch, heads, length, length]) || !tf.util.arraysEqual(dContext.shape, q.shape)) {
      throw new Error(`NativeAttentionGrad: probabilities [${probabilities.shape}] or dContext [${dContext.shape}] does not match q [${q.shape}] and ${heads} heads`);
    }

    const dq = backend.makeOutput(q.shape, 'float32');
    const dk = backend.makeOutput(q.shape, 'float32');
    const dv = backend.makeOutput(q.shape, 'float32');
    const operands = [q, k, v, probabilities, dContext, dq, dk, dv, ...(keep === undefined ? [] : [keep])];
    const { heap, offsets } = heapOffsets(backend, operands);
    native.attentionBackward(
      heap,
      batch,
      length,
      heads,
      headSize,
      scale,
      0,
      0,
      offsets[0]!,
      offsets[1]!,
      offsets[2]!,
      offsets[3]!,
      keep === undefined ? -1 : offsets[8]!,
      offsets[4]!,
      offsets[5]!,
      offsets[6]!,
      offsets[7]!,
    );
    return [dq, dk, dv];
  };
}

/**
 * Element strides of a mask [batch or 1, 1, length or 1, length] between sequences and
 * between query rows; 0 where the mask is shared.
 */
export function maskStrides(mask: { shape: number[] }, batch: number, length: number): { batchStride: number; rowStride: number } {
  if (!fitsNativeMask(mask.shape, batch, length)) {
    throw new Error(`NativeAttention: mask [${mask.shape}] must be [${batch} or 1, 1, ${length} or 1, ${length}]`);
  }
  const [maskBatch, , maskRows] = mask.shape as [number, number, number, number];
  return { batchStride: maskBatch === 1 ? 0 : maskRows * length, rowStride: maskRows === 1 ? 0 : length };
}

/** Returns whether NativeAttention takes a mask of this shape: [batch or 1, 1, length or 1, length]. */
export function fitsNativeMask(shape: number[], batch: number, length: number): boolean {
  return (
    shape.length === 4 &&
    (shape[0] === batch || shape[0] === 1) &&
    shape[1] === 1 &&
    (shape[2] === length || shape[2] === 1) &&
    shape[3] === length
  );
}
