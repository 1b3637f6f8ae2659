import * as tf from '@tensorflow/tfjs-core';
import { matMul } from './ops.ts';
import { fitsNativeMask } from './wasm/native-attention.ts';
import { canRunNative, NATIVE_ATTENTION, NATIVE_ATTENTION_GRAD } from './wasm-kernels.ts';

/**
 * Computes multi-head scaled dot-product attention for queries, keys and values
 * q, k, v [batch, length, hidden] whose heads lie side by side in the last axis:
 *
 *   probabilities = softmax(q_h k_h^T / sqrt(hidden / heads) + mask)   per head h
 *   context_h     = (probabilities * keep) v_h,  returned as [batch, length, hidden]
 *
 * `mask` is additive (0 where a query may attend to a key, a large negative number where
 * it may not) and broadcasts to [batch, heads, length, length]. `keep`, when given, contains
 * the dropout multipliers of the probabilities (0, or 1 / (1 - rate)) as
 * [batch, heads, length, length]. Gradients flow to q, k and v only.
 *
 * With the native kernel module on wasm, and a mask of shape [batch or 1, 1, length or 1,
 * length], each direction is one kernel that reads the heads in place, so the four head
 * transposes and the separate scale, mask, softmax and dropout passes drop out. Elsewhere it
 * is the same formula in tfjs ops.
 */
export function attention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, mask: tf.Tensor, heads: number, keep?: tf.Tensor4D): tf.Tensor3D {
  const [batch, length, hidden] = q.shape;
  if (!tf.util.arraysEqual(k.shape, q.shape) || !tf.util.arraysEqual(v.shape, q.shape)) {
    throw new Error(`attention: q [${q.shape}], k [${k.shape}] and v [${v.shape}] must have one shape`);
  }
  if (!Number.isInteger(heads) || heads < 1 || hidden % heads !== 0) {
    throw new Error(`attention: heads ${heads} must be a positive divisor of the hidden size ${hidden}`);
  }
  if (keep !== undefined && !tf.util.arraysEqual(keep.shape, [batch, heads, length, length])) {
    throw new Error(`attention: keep [${keep.shape}] must be [${batch}, ${heads}, ${length}, ${length}]`);
  }
  // Throws a message that names both shapes when the mask cannot broadcast.
  tf.broadcast_util.assertAndGetBroadcastShape(mask.shape, [batch, heads, length, length]);
  const scale = 1 / Math.sqrt(hidden / heads);

  if (canRunNative(NATIVE_ATTENTION) && mask.dtype === 'float32' && fitsNativeMask(mask.shape, batch, length)) {
    return nativeAttention(q, k, v, mask, heads, scale, keep);
  }
  return tf.tidy(() => {
    const split = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [batch, length, heads, hidden / heads]), [0, 2, 1, 3]); // [B, h, T, hs]
    let probabilities = tf.softmax(tf.add(tf.mul(matMul(split(q), split(k), false, true), scale), mask)); // [B, h, T, T]
    if (keep !== undefined) probabilities = tf.mul(probabilities, keep);
    const context = matMul(probabilities, split(v)); // [B, h, T, hs]
    return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, length, hidden]) as tf.Tensor3D;
  });
}

/** attention on the native module's kernels: one forward, one backward kernel. */
function nativeAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, mask: tf.Tensor, heads: number, scale: number, keep?: tf.Tensor4D): tf.Tensor3D {
  const attributes = { heads, scale };

  const attend = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qIn, kIn, vIn, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
    const inputs: tf.NamedTensorMap = keep === undefined ? { q: qIn, k: kIn, v: vIn, mask } : { q: qIn, k: kIn, v: vIn, mask, keep };
    const [probabilities, context] = tf.engine().runKernel(NATIVE_ATTENTION, inputs, attributes) as tf.Tensor[];
    // keep is saved too: a tensor the forward pass only closes over may be freed before the backward pass.
    save(keep === undefined ? [qIn, kIn, vIn, probabilities!] : [qIn, kIn, vIn, probabilities!, keep]); // probabilities: [B, h, T, T]

    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [qSaved, kSaved, vSaved, probabilitiesSaved, keepSaved] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
      const gradInputs: tf.NamedTensorMap = { q: qSaved, k: kSaved, v: vSaved, probabilities: probabilitiesSaved, dContext: dy };
      if (keepSaved !== undefined) gradInputs.keep = keepSaved;
      return tf.engine().runKernel(NATIVE_ATTENTION_GRAD, gradInputs, attributes) as tf.Tensor[];
    };
    return { value: context!, gradFunc };
  });
  return attend(q, k, v) as tf.Tensor3D;
}
