import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The native kernel module, built from `src/native` by `npm run build:native`. Tensors are
 * float32 arrays passed as byte offsets into one ArrayBuffer (the wasm backend's heap),
 * which the kernels read and write in place. Every call checks that its ranges lie inside
 * the buffer and that no output overlaps another range, and throws otherwise.
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
  /** y = x Phi(x), the exact (erf) GELU, for `count` values. */
  gelu(heap: ArrayBuffer, count: number, xOffset: number, yOffset: number): void;
  /** dx = dy (Phi(x) + x phi(x)), the gradient of gelu. */
  geluGrad(heap: ArrayBuffer, count: number, xOffset: number, dyOffset: number, dxOffset: number): void;
  /**
   * Layer norm of x [rows, hidden] over its last axis: normalized = (x - mean) /
   * sqrt(variance + epsilon) with the biased variance, y = normalized gamma + beta, and
   * inverseDeviation [rows] = 1 / sqrt(variance + epsilon).
   */
  layerNorm(
    heap: ArrayBuffer,
    rows: number,
    hidden: number,
    epsilon: number,
    xOffset: number,
    gammaOffset: number,
    betaOffset: number,
    yOffset: number,
    normalizedOffset: number,
    inverseDeviationOffset: number,
  ): void;
  /** dx [rows, hidden], dGamma [hidden] and dBeta [hidden] of layerNorm from dy and its saved outputs. */
  layerNormGrad(
    heap: ArrayBuffer,
    rows: number,
    hidden: number,
    dyOffset: number,
    normalizedOffset: number,
    inverseDeviationOffset: number,
    gammaOffset: number,
    dxOffset: number,
    dGammaOffset: number,
    dBetaOffset: number,
  ): void;
  /**
   * One Adam update of `count` weights into the three output ranges:
   * m' = beta1 m + (1 - beta1) g, v' = beta2 v + (1 - beta2) g^2,
   * w' = w - lr (m' / firstCorrection) / (sqrt(v' / secondCorrection) + epsilon) - lr weightDecay w.
   */
  adam(
    heap: ArrayBuffer,
    count: number,
    wOffset: number,
    gOffset: number,
    mOffset: number,
    vOffset: number,
    wOutOffset: number,
    mOutOffset: number,
    vOutOffset: number,
    learningRate: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    weightDecay: number,
    firstCorrection: number,
    secondCorrection: number,
  ): void;
  /** adam written over w, m and v, which must not overlap g or each other. */
  adamInPlace(
    heap: ArrayBuffer,
    count: number,
    wOffset: number,
    gOffset: number,
    mOffset: number,
    vOffset: number,
    learningRate: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    weightDecay: number,
    firstCorrection: number,
    secondCorrection: number,
  ): void;
  /**
   * Multi-head attention forward: q, k, v and context are [batch, length, heads * headSize]
   * with head h in columns h * headSize onwards; probabilities [batch, heads, length, length]
   * = softmax(scale q k^T + mask) per head; context = (probabilities * keep) v. The mask row
   * of query i in sequence b starts at element b * maskBatchStride + i * maskRowStride of the
   * mask. keepOffset is -1 without dropout, else the offset of [batch, heads, length, length]
   * multipliers.
   */
  attentionForward(
    heap: ArrayBuffer,
    batch: number,
    length: number,
    heads: number,
    headSize: number,
    scale: number,
    maskBatchStride: number,
    maskRowStride: number,
    qOffset: number,
    kOffset: number,
    vOffset: number,
    maskOffset: number,
    keepOffset: number,
    probabilitiesOffset: number,
    contextOffset: number,
  ): void;
  /** dq, dk and dv of attentionForward from dContext and its saved probabilities; both strides are 0. */
  attentionBackward(
    heap: ArrayBuffer,
    batch: number,
    length: number,
    heads: number,
    headSize: number,
    scale: number,
    maskBatchStride: 0,
    maskRowStride: 0,
    qOffset: number,
    kOffset: number,
    vOffset: number,
    probabilitiesOffset: number,
    keepOffset: number,
    dContextOffset: number,
    dqOffset: number,
    dkOffset: number,
    dvOffset: number,
  ): void;
  /** Sets the number of OpenBLAS threads for later products. */
  setThreads(threads: number): void;
  getThreads(): number;
  /** OpenBLAS's build configuration and the core type it selected, e.g. "OpenBLAS 0.3.21 ...; core Haswell". */
  blasInfo(): string;
}

/** The module when it loaded, else why not. */
export type NativeKernelsLoad =
  | { kernels: NativeKernels; path: string; threads: number; coreType: string }
  | { kernels: undefined; reason: string };

/** Path of the built module. */
export const NATIVE_KERNELS_PATH = join(dirname(fileURLToPath(import.meta.url)), '../build/Release/mcm_native_kernels.node');

/**
 * Environment variable that turns the module off (`off`) or names its OpenBLAS thread count
 * (a positive integer). Unset, it is on with DEFAULT_THREADS.
 */
export const NATIVE_KERNELS_VARIABLE = 'MCM_NATIVE_KERNELS';

/**
 * One OpenBLAS thread, as many as the wasm backend uses in Node. The training step's
 * products are small (3,200 x 64 x 64). In bench:train on 2 cores, a second thread did not
 * shorten the step at a load average of 3.5 (108 against 100 ms per step). At 6.5 it nearly
 * doubled the step (186 against 96 ms), because a product waits for its slowest thread.
 * Data-parallel trainer processes, one per core, are the way to use more cores.
 */
export const DEFAULT_THREADS = 1;

let cached: NativeKernelsLoad | undefined;

/**
 * Loads the native kernel module once and sets its OpenBLAS thread count. Returns the reason
 * instead when it is switched off, not built or fails to load. It throws only for an
 * invalid MCM_NATIVE_KERNELS value.
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
  const threads = setting === '' ? DEFAULT_THREADS : Number(setting);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`invalid ${NATIVE_KERNELS_VARIABLE} '${setting}'; expected 'off' or a positive thread count`);
  }

  const coreType = chooseCoreType();
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
  return { kernels, path: NATIVE_KERNELS_PATH, threads: kernels.getThreads(), coreType };
}

/**
 * Sets OPENBLAS_CORETYPE to SkylakeX (AVX-512 kernels) on AMD processors with AVX-512,
 * unless it is set already, and returns the setting or `detected by OpenBLAS`. OpenBLAS
 * 0.3.21 (Debian 12) does not know Zen 4 and Zen 5 and runs its AVX2 kernels on them. On a
 * Zen 5 machine the SkylakeX kernels cut the training step's CPU time from about 70 to 53 ms
 * (bench:train). OpenBLAS reads the variable once, when the library loads, so this runs
 * before the module is required.
 * NOTE: measured on Zen 5 only. A newer OpenBLAS that detects these processors itself may
 * have a better kernel for them than SkylakeX; set OPENBLAS_CORETYPE to override.
 */
function chooseCoreType(): string {
  const variable = 'OPENBLAS_CORETYPE';
  const current = process.env[variable];
  if (current !== undefined && current !== '') return `${current} (${variable})`;

  let cpuinfo: string;
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return 'detected by OpenBLAS';
  }
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  const amd = /^vendor_id\s*:\s*AuthenticAMD$/m.test(cpuinfo);
  const avx512 = ['avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl'].every((flag) => flags.has(flag));
  if (!amd || !avx512) return 'detected by OpenBLAS';
  process.env[variable] = 'SkylakeX';
  return 'SkylakeX (set for an AMD processor with AVX-512)';
}
