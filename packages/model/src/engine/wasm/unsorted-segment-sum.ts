import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { input, type KernelArgs } from './internals.ts';

/**
 * UnsortedSegmentSum on the wasm heap: out[s, ...] = sum of x[i, ...] over every row i with
 * segmentIds[i] = s. Like the cpu backend, it takes one id per row of x (rank-1 ids), and
 * drops ids outside [0, numSegments), as TensorFlow does. The gradient of gather (every
 * embedding lookup) calls it, and tfjs-backend-wasm 4.22 has no kernel for it.
 */
export function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = input(args, 'x', 'UnsortedSegmentSum');
  const segmentIds = input(args, 'segmentIds', 'UnsortedSegmentSum');
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
