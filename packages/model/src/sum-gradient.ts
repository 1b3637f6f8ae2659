import * as tf from '@tensorflow/tfjs-core';

/**
 * Replaces tfjs's gradient of Sum with the same computation, minus an allocation. The
 * stock one multiplies the incoming gradient by `ones(x.shape)`, and `ones` fills a
 * JavaScript array of x's size before the backend copies it. The attentional readout
 * sums products of [B, T, C], so every step filled megabytes of ones outside the JS heap,
 * which V8 counted towards its next full garbage collection. `fill` makes the ones on the
 * backend itself. (Broadcasting dy with `broadcastTo` avoids the product too, but the
 * wasm backend's Tile made the training step 50% slower.)
 */
export function registerSumGradient(): void {
  tf.registerGradient({
    kernelName: tf.Sum,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [tf.Tensor];
      const expandedShape = x.shape.slice();
      for (const axis of tf.util.parseAxisParam((attrs as unknown as tf.SumAttrs).axis, x.shape)) expandedShape[axis] = 1;
      return { x: () => tf.mul(tf.reshape(dy as tf.Tensor, expandedShape), tf.fill(x.shape, 1, 'float32')) };
    },
  });
}
