import { createLogger } from '@mcm/common';
import { loadNativeKernels, type NativeKernels } from '@mcm/native-kernels';

let logged = false;

/**
 * Returns the native kernel module (OpenBLAS products, built by `npm run build:native`), or
 * undefined when it is not built or switched off. The first call logs which, once.
 */
export function nativeKernels(): NativeKernels | undefined {
  const load = loadNativeKernels();
  if (!logged) {
    logged = true;
    const logger = createLogger('engine');
    if (load.kernels === undefined) {
      logger.info({ reason: load.reason }, 'native kernels skipped; matrix products run on the wasm backend (XNNPACK)');
    } else {
      logger.info({ path: load.path, threads: load.threads, coreType: load.coreType, blas: load.kernels.blasInfo() }, 'native kernels loaded; matrix products run on OpenBLAS');
    }
  }
  return load.kernels;
}
