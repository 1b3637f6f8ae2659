import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { input, type KernelArgs } from './internals.ts';

/**
 * Identity that shares the input's data instead of copying it, as the cpu backend does.
 * Sharing is safe because no kernel writes into its inputs. The engine runs Identity on
 * every tensor it saves for the backward pass, so this removes one copy per saved tensor.
 */
export function shareIdentity(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = input(args, 'x', 'Identity');
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}
