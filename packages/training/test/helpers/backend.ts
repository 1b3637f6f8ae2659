import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// The model package registers tfjs's gradient functions, which the stand-in model needs too.
import '@mcm/model';

/** Selects the tfjs cpu backend, which every test machine has. */
export async function useCpuBackend(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}
