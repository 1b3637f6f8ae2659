import * as tf from '@tensorflow/tfjs-core';

/** Kernel name of the fused Adam update, registered for wasm by registerWasmTrainingKernels. */
export const ADAM_UPDATE = 'AdamUpdate';

/** Settings of one Adam (AdamW when weightDecay > 0) update. */
export interface AdamUpdateSettings {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay per step, scaled by the learning rate (AdamW); 0 for Adam. */
  weightDecay: number;
  /** The 1-based number of this update, for the bias corrections 1 - beta^step. */
  step: number;
  /**
   * Allows the wasm kernel to write the update over `variable`, `first` and `second` when no
   * other tensor shares their data, which saves three allocations of the variable's size.
   * The inputs then hold the new values too. For optimizers that assign the results to
   * these very tensors; default false.
   */
  inPlace?: boolean;
}

/**
 * Computes one Adam update of `variable` from its gradient and moment estimates and returns
 * [variable, first moment, second moment], each of the variable's shape:
 *
 *   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
 *   w = w - lr (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + epsilon) - lr weightDecay w
 *
 * On wasm it is one kernel over the heap; elsewhere the same formula in tfjs ops. The
 * caller assigns the results to its variables.
 */
export function adamUpdate(
  variable: tf.Tensor,
  gradient: tf.Tensor,
  first: tf.Tensor,
  second: tf.Tensor,
  settings: AdamUpdateSettings,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  checkSettings(settings);
  const { learningRate, beta1, beta2, epsilon, weightDecay, step, inPlace = false } = settings;
  const firstCorrection = 1 - beta1 ** step;
  const secondCorrection = 1 - beta2 ** step;

  if (tf.getBackend() === 'wasm' && tf.getKernel(ADAM_UPDATE, 'wasm') !== undefined) {
    const attrs = { learningRate, beta1, beta2, epsilon, weightDecay, firstCorrection, secondCorrection, inPlace };
    const outputs = tf.engine().runKernel(ADAM_UPDATE, { variable, gradient, first, second }, attrs) as unknown as tf.Tensor[];
    return [outputs[0]!, outputs[1]!, outputs[2]!];
  }

  return tf.tidy(() => {
    const nextFirst = tf.add(tf.mul(first, beta1), tf.mul(gradient, 1 - beta1));
    const nextSecond = tf.add(tf.mul(second, beta2), tf.mul(tf.square(gradient), 1 - beta2));
    const denominator = tf.add(tf.sqrt(tf.div(nextSecond, secondCorrection)), epsilon);
    let update = tf.mul(tf.div(tf.div(nextFirst, firstCorrection), denominator), learningRate);
    if (weightDecay > 0) update = tf.add(update, tf.mul(variable, learningRate * weightDecay));
    return [tf.sub(variable, update), nextFirst, nextSecond] as [tf.Tensor, tf.Tensor, tf.Tensor];
  });
}

function checkSettings(settings: AdamUpdateSettings): void {
  const { learningRate, beta1, beta2, epsilon, weightDecay, step } = settings;
  if (!(learningRate >= 0)) throw new Error(`adamUpdate: learningRate must be >= 0, got ${learningRate}`);
  if (!(beta1 >= 0 && beta1 < 1)) throw new Error(`adamUpdate: beta1 must be in [0, 1), got ${beta1}`);
  if (!(beta2 >= 0 && beta2 < 1)) throw new Error(`adamUpdate: beta2 must be in [0, 1), got ${beta2}`);
  if (!(epsilon > 0)) throw new Error(`adamUpdate: epsilon must be > 0, got ${epsilon}`);
  if (!(weightDecay >= 0)) throw new Error(`adamUpdate: weightDecay must be >= 0, got ${weightDecay}`);
  if (!Number.isInteger(step) || step < 1) throw new Error(`adamUpdate: step must be an integer >= 1 (the update count), got ${step}`);
}
