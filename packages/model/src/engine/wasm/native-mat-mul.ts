import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeKernels } from '@mcm/native-kernels';
import { heapOffsets } from './heap.ts';
import { input, type KernelArgs } from './internals.ts';

/**
 * Creates the NativeMatMul kernel: c [batch, m, n] = op(a) op(b) (+ bias [n]) for a
 * [batchA, m, k] (or [batchA, k, m] with transposeA) and b [batchB, k, n] (or [batchB, n, k]
 * with transposeB), computed by OpenBLAS directly on the wasm heap, with no copies and no
 * explicit transposes. batchA and batchB are equal, or one of them is 1 and that slice meets
 * every slice of the other.
 */
export function createNativeMatMul(native: NativeKernels): (args: KernelArgs) => tf.TensorInfo {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const a = input(args, 'a', 'NativeMatMul');
    const b = input(args, 'b', 'NativeMatMul');
    const bias = args.inputs.bias;
    const transposeA = Boolean(args.attrs?.transposeA);
    const transposeB = Boolean(args.attrs?.transposeB);
    for (const tensor of bias === undefined ? [a, b] : [a, b, bias]) {
      if (tensor.dtype !== 'float32') throw new Error(`NativeMatMul multiplies float32 tensors, got ${tensor.dtype} [${tensor.shape}]`);
    }
    if (a.shape.length !== 3 || b.shape.length !== 3) {
      throw new Error(`NativeMatMul needs rank-3 operands, got a [${a.shape}] and b [${b.shape}]`);
    }

    const [batchA, rowsA, columnsA] = a.shape as [number, number, number];
    const [batchB, rowsB, columnsB] = b.shape as [number, number, number];
    const [m, k] = transposeA ? [columnsA, rowsA] : [rowsA, columnsA];
    const [kB, n] = transposeB ? [columnsB, rowsB] : [rowsB, columnsB];
    if (k !== kB) {
      throw new Error(`NativeMatMul: inner dimensions differ, a [${a.shape}] (transposeA ${transposeA}) x b [${b.shape}] (transposeB ${transposeB})`);
    }
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
      throw new Error(`NativeMatMul: batch sizes ${batchA} and ${batchB} differ and neither is 1`);
    }
    if (bias !== undefined && (bias.shape.length !== 1 || bias.shape[0] !== n)) {
      throw new Error(`NativeMatMul: bias [${bias.shape}] must be [${n}], the product's columns`);
    }

    const batch = Math.max(batchA, batchB);
    const out = backend.makeOutput([batch, m, n], 'float32');
    if (batch * m * n === 0) return out;

    const operands = bias === undefined ? [a, b, out] : [a, b, out, bias];
    const { heap, offsets } = heapOffsets(backend, operands);
    native.gemm(
      heap,
      batch,
      m,
      n,
      k,
      transposeA ? 1 : 0,
      transposeB ? 1 : 0,
      offsets[0]!,
      batchA === 1 ? 0 : m * k,
      offsets[1]!,
      batchB === 1 ? 0 : k * n,
      offsets[2]!,
      bias === undefined ? -1 : offsets[3]!,
    );
    return out;
  };
}
