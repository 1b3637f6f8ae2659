import * as tf from '@tensorflow/tfjs-core';
import { canRunNative, canRunSlicedBatchMatMul, NATIVE_MAT_MUL, nativeMatMul, slicedBatchMatMul } from './wasm-kernels.ts';

/**
 * Matrix products whose forward and backward passes stay on the wasm backend's fast path.
 *
 * The wasm backend sends a product to XNNPACK only when neither operand is transposed and
 * the batch size is 1. Everything else runs a scalar loop, roughly ten times slower. tfjs's
 * own matMul gradient multiplies transposed operands, so the backward pass fell on that
 * loop. The ops here transpose explicitly (a copy), multiply untransposed, fold a batch
 * into the rows when the other operand is shared, and send the remaining batched products
 * (attention) to SlicedBatchMatMul. When the native kernel module is built, every product
 * on wasm goes to NativeMatMul instead, which multiplies with OpenBLAS on the wasm heap and
 * takes the transpose flags as they are. On other backends the ops call tf.matMul with
 * the transpose flags, which those backends handle natively.
 */

/**
 * Multiplies a [..., m, k] by b [..., k, n] (before the optional transposes of the last two
 * dimensions), with the semantics of tf.matMul(a, b, transposeA, transposeB): ranks of at
 * least 2, batch dimensions broadcast against each other. The gradient also sums over
 * broadcast batch dimensions, which tfjs's own matMul gradient does not.
 */
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  checkOperands(a, b, transposeA, transposeB);

  const multiply = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [aIn, bIn, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([aIn, bIn]);
    const value = product(aIn, bIn, transposeA, transposeB);

    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [aSaved, bSaved] = saved as [tf.Tensor, tf.Tensor];
      return [gradientOfA(dy, aSaved, bSaved, transposeA, transposeB), gradientOfB(dy, aSaved, bSaved, transposeA, transposeB)];
    };
    return { value, gradFunc };
  });
  return multiply(a, b);
}

/**
 * Applies a dense layer: x [..., inputs] times kernel [inputs, outputs], plus bias [outputs]
 * when given. The bias is fused into the product, and its gradient is computed as
 * ones [1, rows] times dy, so that on wasm it runs on XNNPACK too.
 */
export function linear(x: tf.Tensor, kernel: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  const [inputs, outputs] = kernel.shape;
  if (x.rank < 1 || x.shape[x.rank - 1] !== inputs) {
    throw new Error(`linear: x of shape [${x.shape}] must end in ${inputs}, the kernel's input size (kernel [${kernel.shape}])`);
  }
  if (bias !== undefined && (bias.rank !== 1 || bias.shape[0] !== outputs)) {
    throw new Error(`linear: bias of shape [${bias.shape}] must be [${outputs}], the kernel's output size`);
  }
  const outShape = [...x.shape.slice(0, -1), outputs];

  if (bias === undefined) {
    return tf.tidy(() => tf.reshape(matMul(tf.reshape(x, [-1, inputs]), kernel), outShape));
  }

  const apply = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, kernelIn, biasIn, save] = args as [tf.Tensor, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    save([xIn, kernelIn]);
    const flat = tf.reshape(xIn, [-1, inputs]); // [rows, inputs]
    const value = canRunNative(NATIVE_MAT_MUL)
      ? tf.reshape(nativeMatMul(tf.reshape(flat, [1, -1, inputs]) as tf.Tensor3D, tf.reshape(kernelIn, [1, inputs, outputs]) as tf.Tensor3D, false, false, biasIn), outShape)
      : tf.reshape(tf.fused.matMul({ a: flat, b: kernelIn, bias: biasIn }), outShape);

    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [xSaved, kernelSaved] = saved as [tf.Tensor, tf.Tensor2D];
      return tf.tidy(() => {
        const dyFlat = tf.reshape(dy, [-1, outputs]); // [rows, outputs]
        const xFlat = tf.reshape(xSaved, [-1, inputs]); // [rows, inputs]
        const dx = tf.reshape(product(dyFlat, kernelSaved, false, true), xSaved.shape); // [..., inputs]
        const dKernel = product(xFlat, dyFlat, true, false); // [inputs, outputs]
        const dBias = tf.reshape(product(tf.ones([1, dyFlat.shape[0]]), dyFlat, false, false), [outputs]);
        return [dx, dKernel, dBias];
      });
    };
    return { value, gradFunc };
  });
  return apply(x, kernel, bias);
}

function checkOperands(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): void {
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`matMul needs operands of rank 2 or more, got a [${a.shape}] and b [${b.shape}]`);
  }
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`matMul multiplies float32 tensors, got ${a.dtype} and ${b.dtype}; cast them with tf.cast`);
  }
  const innerA = a.shape[transposeA ? a.rank - 2 : a.rank - 1];
  const innerB = b.shape[transposeB ? b.rank - 1 : b.rank - 2];
  if (innerA !== innerB) {
    throw new Error(
      `matMul: inner dimensions differ, a [${a.shape}] (transposeA ${transposeA}) has ${innerA} ` +
        `and b [${b.shape}] (transposeB ${transposeB}) has ${innerB}; check the operand order and transpose flags`,
    );
  }
  // Throws a message that names both shapes when the batch dimensions cannot broadcast.
  tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
}

/**
 * dA for C = op(A) op(B), where op transposes when its flag is set:
 * tA false: dA = dC op(B)^T; tA true: dA = (dC op(B)^T)^T = op(B) dC^T.
 */
function gradientOfA(dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  return tf.tidy(() => {
    const full = transposeA ? product(b, dy, transposeB, true) : product(dy, b, false, !transposeB);
    return sumToShape(full, a.shape);
  });
}

/**
 * dB for C = op(A) op(B): tB false: dB = op(A)^T dC; tB true: dB = dC^T op(A).
 * When B is shared by every batch slice (a weight), the slices are folded into the rows,
 * so the sum over the batch happens inside one product.
 */
function gradientOfB(dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  return tf.tidy(() => {
    const bBatch = tf.util.sizeFromShape(b.shape.slice(0, -2));
    if (bBatch === 1 && a.rank > 2) {
      const folded = foldedGradientOfB(dy, a, transposeA); // [k, n]
      return tf.reshape(transposeB ? transposeLastTwo(folded) : folded, b.shape);
    }
    const full = transposeB ? product(dy, a, true, transposeA) : product(a, dy, !transposeA, false);
    return sumToShape(full, b.shape);
  });
}

/** Returns op(A)^T dC [k, n] summed over every batch slice, as one product. */
function foldedGradientOfB(dy: tf.Tensor, a: tf.Tensor, transposeA: boolean): tf.Tensor {
  const rowsA = a.shape[a.rank - 2]!;
  const colsA = a.shape[a.rank - 1]!;
  const n = dy.shape[dy.rank - 1]!;
  const slices = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const dyRows = tf.reshape(dy, [-1, n]); // [slices * m, n]

  if (!transposeA) {
    // a: [slices, m, k] -> [slices * m, k]; the product transposes it to [k, slices * m].
    return product(tf.reshape(a, [-1, colsA]), dyRows, true, false);
  }
  // a: [slices, k, m] -> [k, slices, m] -> [k, slices * m], already the transposed operand.
  const columns = tf.reshape(tf.transpose(tf.reshape(a, [slices, rowsA, colsA]), [1, 0, 2]), [rowsA, -1]);
  return product(columns, dyRows, false, false);
}

/** Sums a gradient over the batch dimensions its input was broadcast along. */
function sumToShape(gradient: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.broadcast_util.getReductionAxes(shape, gradient.shape);
  const summed = axes.length > 0 ? tf.sum(gradient, axes) : gradient;
  return tf.reshape(summed, shape);
}

/** op(a) op(b) for the active backend, with no tape of its own (callers own the gradient). */
function product(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  if (canRunNative(NATIVE_MAT_MUL)) {
    return tf.tidy(() => productOnNative(a, b, transposeA, transposeB));
  }
  if (tf.getBackend() === 'wasm') {
    return tf.tidy(() => productOnWasm(a, b, transposeA, transposeB));
  }
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (batchA === batchB || batchA === 1 || batchB === 1) {
    return tf.matMul(a, b, transposeA, transposeB);
  }
  // tfjs 4.22's cpu BatchMatMul returns wrong values when both batches broadcast
  // ([2, 1] against [1, 3]), so both operands are broadcast explicitly.
  return tf.tidy(() => {
    const batchShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const aFull = tf.broadcastTo(a, [...batchShape, ...a.shape.slice(-2)]);
    const bFull = tf.broadcastTo(b, [...batchShape, ...b.shape.slice(-2)]);
    return tf.matMul(aFull, bFull, transposeA, transposeB);
  });
}

/** op(a) op(b) on OpenBLAS through NativeMatMul, which takes the transpose flags as they are. */
function productOnNative(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  const outBatchShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  let batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  let batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  let aFull = a;
  let bFull = b;
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    // Both sides broadcast (e.g. [2, 1] against [1, 3]): materialise the full batch first.
    aFull = tf.broadcastTo(a, [...outBatchShape, ...a.shape.slice(-2)]);
    bFull = tf.broadcastTo(b, [...outBatchShape, ...b.shape.slice(-2)]);
    batchA = batchB = tf.util.sizeFromShape(outBatchShape);
  }

  const a3 = tf.reshape(aFull, [batchA, a.shape[a.rank - 2]!, a.shape[a.rank - 1]!]) as tf.Tensor3D;
  const b3 = tf.reshape(bFull, [batchB, b.shape[b.rank - 2]!, b.shape[b.rank - 1]!]) as tf.Tensor3D;
  const c = nativeMatMul(a3, b3, transposeA, transposeB); // [batch, m, n]
  return tf.reshape(c, [...outBatchShape, ...c.shape.slice(1)]);
}

/**
 * op(a) op(b) on wasm with explicit transposes. When both operands have the same batch
 * shape, it may compute (op(b)^T op(a)^T)^T instead, whichever transposes fewer values:
 * wasm's Transpose kernel costs about as much as a small matmul. For a weight gradient
 * x^T dy with x [rows, 256] and dy [rows, 64], that moves 64 columns instead of 256.
 */
function productOnWasm(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  const sameBatch = tf.util.arraysEqual(a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (sameBatch) {
    const rows = a.shape[transposeA ? a.rank - 1 : a.rank - 2]!;
    const columns = b.shape[transposeB ? b.rank - 2 : b.rank - 1]!;
    const outputSize = tf.util.sizeFromShape(a.shape.slice(0, -2)) * rows * columns;
    const directCost = (transposeA ? a.size : 0) + (transposeB ? b.size : 0);
    const swappedCost = (transposeA ? 0 : a.size) + (transposeB ? 0 : b.size) + outputSize;
    if (swappedCost < directCost) {
      const bTransposed = transposeB ? b : transposeLastTwo(b); // op(b)^T
      const aTransposed = transposeA ? a : transposeLastTwo(a); // op(a)^T
      return transposeLastTwo(untransposedProduct(bTransposed, aTransposed));
    }
  }
  return untransposedProduct(transposeA ? transposeLastTwo(a) : a, transposeB ? transposeLastTwo(b) : b);
}

/** a [...batchA, m, k] times b [...batchB, k, n] on wasm, each as an untransposed batch-1 product. */
function untransposedProduct(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const [m, k] = a.shape.slice(-2) as [number, number];
  const n = b.shape[b.rank - 1]!;
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const outBatchShape = tf.broadcast_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
  const batchA = tf.util.sizeFromShape(batchShapeA);
  const batchB = tf.util.sizeFromShape(batchShapeB);
  const outShape = [...outBatchShape, m, n];

  if (batchB === 1) {
    // Every slice of a meets the same b: the slices become rows of one product.
    const rows = tf.matMul(tf.reshape(a, [1, batchA * m, k]), tf.reshape(b, [1, k, n])); // [1, batchA * m, n]
    return tf.reshape(rows, outShape);
  }
  if (!canRunSlicedBatchMatMul()) {
    // NOTE: without SlicedBatchMatMul, batched products run tfjs's scalar loop (correct, slow).
    return tf.matMul(a, b);
  }
  if (batchA === 1 || batchA === batchB) {
    const c = slicedBatchMatMul(tf.reshape(a, [batchA, m, k]) as tf.Tensor3D, tf.reshape(b, [batchB, k, n]) as tf.Tensor3D);
    return tf.reshape(c, outShape); // [...batch, m, n]
  }
  // Both sides broadcast (e.g. [2, 1] against [1, 3]): materialise the full batch first.
  const batch = tf.util.sizeFromShape(outBatchShape);
  const aFull = tf.reshape(tf.broadcastTo(a, [...outBatchShape, m, k]), [batch, m, k]) as tf.Tensor3D;
  const bFull = tf.reshape(tf.broadcastTo(b, [...outBatchShape, k, n]), [batch, k, n]) as tf.Tensor3D;
  return tf.reshape(slicedBatchMatMul(aFull, bFull), outShape);
}

/** [..., r, c] -> [..., c, r], as a copy. */
function transposeLastTwo(x: tf.Tensor): tf.Tensor {
  const perm = [...Array(x.rank).keys()];
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return tf.transpose(x, perm);
}
