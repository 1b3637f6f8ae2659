import * as tf from '@tensorflow/tfjs-core';
import { matMul } from './ops.ts';
import { canRunNative, NATIVE_GELU, NATIVE_GELU_GRAD, NATIVE_LAYER_NORM, NATIVE_LAYER_NORM_GRAD } from './wasm-kernels.ts';

/**
 * Layer norm and GELU with hand-written gradients. tfjs's autodiff of the same formulas
 * runs about twice as many kernels (each a full pass over the activations) and sums the
 * gamma and beta gradients with a column reduction, which the wasm backend runs as a
 * transpose followed by a sum. Here those sums are ones [1, rows] times a matrix. When the
 * native kernel module is loaded, each direction of each op is one kernel of that module.
 */

/**
 * Normalizes x [..., hidden] over its last axis, then scales by gamma [hidden] and shifts
 * by beta [hidden]: (x - mean) / sqrt(variance + epsilon) * gamma + beta, with the biased
 * variance (as PyTorch's and Keras's LayerNorm).
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): tf.Tensor {
  const hidden = x.shape[x.rank - 1];
  if (gamma.rank !== 1 || gamma.shape[0] !== hidden || beta.rank !== 1 || beta.shape[0] !== hidden) {
    throw new Error(`layerNorm: gamma [${gamma.shape}] and beta [${beta.shape}] must both be [${hidden}], the last axis of x [${x.shape}]`);
  }
  if (!(epsilon > 0)) {
    throw new Error(`layerNorm: epsilon must be positive, got ${epsilon}`);
  }
  if (canRunNative(NATIVE_LAYER_NORM)) return nativeLayerNorm(x, gamma, beta, epsilon);

  const normalize = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, gammaIn, betaIn, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const rows = tf.reshape(xIn, [-1, hidden!]); // [rows, hidden]
    const centered = tf.sub(rows, tf.mean(rows, -1, true)); // [rows, hidden]
    const variance = tf.mean(tf.square(centered), -1, true); // [rows, 1]
    const inverseDeviation = tf.rsqrt(tf.add(variance, epsilon)); // [rows, 1]
    const normalized = tf.mul(centered, inverseDeviation); // [rows, hidden]
    save([normalized, inverseDeviation, gammaIn]);
    const value = tf.reshape(tf.add(tf.mul(normalized, gammaIn), betaIn), xIn.shape);

    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [normalizedSaved, inverseSaved, gammaSaved] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
      return tf.tidy(() => {
        const dyRows = tf.reshape(dy, [-1, hidden!]) as tf.Tensor2D; // [rows, hidden]
        const dGamma = sumRows(tf.mul(dyRows, normalizedSaved) as tf.Tensor2D); // [hidden]
        const dBeta = sumRows(dyRows); // [hidden]

        // dx = (g - mean(g) - x̂ mean(g x̂)) / σ, where g = dy γ and x̂ is the normalized input.
        const g = tf.mul(dyRows, gammaSaved); // [rows, hidden]
        const meanG = tf.mean(g, -1, true); // [rows, 1]
        const meanGX = tf.mean(tf.mul(g, normalizedSaved), -1, true); // [rows, 1]
        const dxRows = tf.mul(tf.sub(tf.sub(g, meanG), tf.mul(normalizedSaved, meanGX)), inverseSaved);
        return [tf.reshape(dxRows, dy.shape), dGamma, dBeta];
      });
    };
    return { value, gradFunc };
  });
  return normalize(x, gamma, beta);
}

/** GELU with the exact (erf) form: x Φ(x), where Φ is the standard normal CDF. */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (canRunNative(NATIVE_GELU)) return nativeGelu(x);
  const activate = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(xIn, Math.SQRT1_2)), 1), 0.5); // Φ(x)
    save([xIn, cdf]);
    const value = tf.mul(xIn, cdf);

    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => {
      const [xSaved, cdfSaved] = saved as [tf.Tensor, tf.Tensor];
      return tf.tidy(() => {
        // d/dx x Φ(x) = Φ(x) + x φ(x), with φ(x) = exp(-x² / 2) / sqrt(2π).
        const scaledPdf = tf.exp(tf.mul(tf.square(xSaved), -0.5)); // sqrt(2π) φ(x)
        const slope = tf.add(cdfSaved, tf.mul(tf.mul(xSaved, scaledPdf), 1 / Math.sqrt(2 * Math.PI)));
        return tf.mul(dy, slope);
      });
    };
    return { value, gradFunc };
  });
  return activate(x);
}

/** layerNorm on the native module's kernels: one pass forward, one backward. */
function nativeLayerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): tf.Tensor {
  const hidden = x.shape[x.rank - 1]!;
  const normalize = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, gammaIn, betaIn, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const rows = tf.reshape(xIn, [-1, hidden]); // [rows, hidden]
    const [y, normalized, inverseDeviation] = tf.engine().runKernel(NATIVE_LAYER_NORM, { x: rows, gamma: gammaIn, beta: betaIn }, { epsilon }) as tf.Tensor[];
    save([normalized!, inverseDeviation!, gammaIn]); // [rows, hidden], [rows, 1], [hidden]
    const value = tf.reshape(y!, xIn.shape);

    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [normalizedSaved, inverseSaved, gammaSaved] = saved as [tf.Tensor, tf.Tensor, tf.Tensor1D];
      return tf.tidy(() => {
        const dyRows = tf.reshape(dy, [-1, hidden]); // [rows, hidden]
        const inputs = { dy: dyRows, normalized: normalizedSaved, inverseDeviation: inverseSaved, gamma: gammaSaved };
        const [dx, dGamma, dBeta] = tf.engine().runKernel(NATIVE_LAYER_NORM_GRAD, inputs) as tf.Tensor[];
        return [tf.reshape(dx!, dy.shape), dGamma!, dBeta!];
      });
    };
    return { value, gradFunc };
  });
  return normalize(x, gamma, beta);
}

/** gelu on the native module's kernels: one pass forward, one backward. */
function nativeGelu(x: tf.Tensor): tf.Tensor {
  const activate = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([xIn]);
    const value = tf.engine().runKernel(NATIVE_GELU, { x: xIn }) as tf.Tensor;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => tf.engine().runKernel(NATIVE_GELU_GRAD, { x: saved[0]!, dy }) as tf.Tensor;
    return { value, gradFunc };
  });
  return activate(x);
}

/** Sums x [rows, columns] over its rows as ones [1, rows] times x, a matmul on wasm. */
function sumRows(x: tf.Tensor2D): tf.Tensor1D {
  if (tf.getBackend() !== 'wasm') return tf.sum(x, 0);
  return tf.reshape(matMul(tf.ones([1, x.shape[0]]), x), [x.shape[1]]);
}
