import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The native kernel module, built from `src/native` by `npm run build:native`. Tensors are
 * passed as byte offsets into one ArrayBuffer (the wasm backend's heap), which the kernels
 * read and write in place. Every call checks that its ranges lie inside the buffer.
 */
export interface NativeKernels {
  /**
   * C[i] = op(A[i]) op(B[i]) + bias for i < batch, in float32 on OpenBLAS's sgemm. op
   * transposes when its flag is set: A[i] is stored [m, k], or [k, m] when transposed, and
   * B[i] [k, n], or [n, k]. C is [batch, m, n], contiguous, and is overwritten. Offsets are
   * in bytes, strides in elements between consecutive slices (0 shares one slice), and
   * biasOffset is -1 for no bias.
   */
  gemm(
    heap: ArrayBuffer,
    batch: number,
    m: number,
    n: number,
    k: number,
    transposeA: number,
    transposeB: number,
    aOffset: number,
    strideA: number,
    bOffset: number,
    strideB: number,
    cOffset: number,
    biasOffset: number,
  ): void;
  /** Sets the number of OpenBLAS threads for later products. */
  setThreads(threads: number): void;
  getThreads(): number;
  /** OpenBLAS's build configuration and the core type it selected, e.g. "OpenBLAS 0.3.21 ...; core Haswell". */
  blasInfo(): string;
}

/** The module when it loaded, else why not. */
export type NativeKernelsLoad =
  | { kernels: NativeKernels; path: string; threads: number }
  | { kernels: undefined; reason: string };

/** Path of the built module. */
export const NATIVE_KERNELS_PATH = join(dirname(fileURLToPath(import.meta.url)), '../build/Release/mcm_native_kernels.node');

/**
 * Environment variable that turns the module off (`off`) or names its OpenBLAS thread count
 * (a positive integer). Unset, it is on with one thread per core.
 */
export const NATIVE_KERNELS_VARIABLE = 'MCM_NATIVE_KERNELS';

let cached: NativeKernelsLoad | undefined;

/**
 * Loads the native kernel module once and sets its OpenBLAS thread count. Returns the reason
 * instead when it is switched off or was not built; it never throws for a missing module.
 */
export function loadNativeKernels(): NativeKernelsLoad {
  cached ??= load();
  return cached;
}

function load(): NativeKernelsLoad {
  const setting = (process.env[NATIVE_KERNELS_VARIABLE] ?? '').trim();
  if (setting === 'off' || setting === '0') {
    return { kernels: undefined, reason: `switched off by ${NATIVE_KERNELS_VARIABLE}=${setting}` };
  }
  const threads = setting === '' ? availableParallelism() : Number(setting);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`invalid ${NATIVE_KERNELS_VARIABLE} '${setting}'; expected 'off' or a positive thread count`);
  }

  let kernels: NativeKernels;
  try {
    kernels = createRequire(import.meta.url)(NATIVE_KERNELS_PATH) as NativeKernels;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    const missing = (error as { code?: string }).code === 'MODULE_NOT_FOUND';
    return {
      kernels: undefined,
      reason: missing ? `${NATIVE_KERNELS_PATH} is not built (run npm run build:native)` : `${NATIVE_KERNELS_PATH} failed to load: ${message}`,
    };
  }
  kernels.setThreads(threads);
  return { kernels, path: NATIVE_KERNELS_PATH, threads: kernels.getThreads() };
}
