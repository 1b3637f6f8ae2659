import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createLogger } from '@mcm/common';
import { registerWasmTrainingKernels } from './wasm-kernels.ts';

/** A backend `initBackend` can select; `auto` takes the fastest one that loads. */
export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/** The tfjs backend names the engine runs on. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** The backend `initBackend` selected, why, and why each faster candidate was skipped. */
export interface BackendChoice {
  name: BackendName;
  reason: string;
  skipped: { candidate: string; reason: string }[];
}

const PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/** One way of loading a backend; `load` returns a reason on success and throws on failure. */
interface Candidate {
  label: string;
  name: BackendName;
  load: () => Promise<string>;
}

const CANDIDATES: readonly Candidate[] = [
  {
    label: '@tensorflow/tfjs-node-gpu',
    name: 'tensorflow',
    load: () => loadTensorflow('@tensorflow/tfjs-node-gpu', 'libtensorflow with CUDA'),
  },
  {
    label: '@tensorflow/tfjs-node',
    name: 'tensorflow',
    load: () => loadTensorflow('@tensorflow/tfjs-node', 'libtensorflow on the CPU'),
  },
  { label: '@tensorflow/tfjs-backend-wasm', name: 'wasm', load: loadWasm },
  { label: '@tensorflow/tfjs-backend-cpu', name: 'cpu', load: loadCpu },
];

/**
 * Selects the fastest tfjs backend that loads, in this order: `tensorflow` from
 * @tensorflow/tfjs-node-gpu, `tensorflow` from @tensorflow/tfjs-node, `wasm`, `cpu`.
 * `preference` (or, when it is undefined or `auto`, the MCM_BACKEND environment variable)
 * names one backend instead. A named backend that fails to load is an error, not a
 * fallback. On wasm it also registers the kernels training needs.
 */
export async function initBackend(preference?: BackendPreference): Promise<BackendChoice> {
  const logger = createLogger('engine');
  const { requested, source } = resolvePreference(preference);
  const candidates = requested === 'auto' ? CANDIDATES : CANDIDATES.filter((candidate) => candidate.name === requested);
  const skipped: BackendChoice['skipped'] = [];

  for (const candidate of candidates) {
    try {
      const detail = await candidate.load();
      const reason =
        requested !== 'auto'
          ? `requested by ${source}; ${detail}`
          : skipped.length > 0
            ? `${skipped.map((skip) => skip.candidate).join(' and ')} unavailable; ${detail}`
            : detail;
      const choice: BackendChoice = { name: candidate.name, reason, skipped };
      logger.info({ backend: choice.name, package: candidate.label, requested, reason, skipped }, `tfjs backend ${choice.name} selected`);
      return choice;
    } catch (error) {
      const reason = errorMessage(error);
      skipped.push({ candidate: candidate.label, reason });
      logger.info({ candidate: candidate.label, reason }, `tfjs backend candidate ${candidate.label} skipped`);
    }
  }

  const tried = skipped.map((skip) => `${skip.candidate}: ${skip.reason}`).join('; ');
  throw new Error(
    requested === 'auto'
      ? `no tfjs backend could be loaded (${tried})`
      : `tfjs backend '${requested}' was requested but could not be loaded (${tried}); ` +
          `install it (see docs/engine.md) or set MCM_BACKEND=auto`,
  );
}

function resolvePreference(preference: BackendPreference | undefined): { requested: BackendPreference; source: string } {
  const fromEnvironment = process.env.MCM_BACKEND;
  if ((preference === undefined || preference === 'auto') && fromEnvironment !== undefined && fromEnvironment !== '') {
    if (!PREFERENCES.includes(fromEnvironment as BackendPreference)) {
      throw new Error(`invalid MCM_BACKEND '${fromEnvironment}'; expected one of ${PREFERENCES.join(', ')}`);
    }
    return { requested: fromEnvironment as BackendPreference, source: 'MCM_BACKEND' };
  }
  const requested = preference ?? 'auto';
  if (!PREFERENCES.includes(requested)) {
    throw new Error(`invalid backend preference '${String(requested)}'; expected one of ${PREFERENCES.join(', ')}`);
  }
  return { requested, source: 'the caller' };
}

async function loadTensorflow(specifier: string, description: string): Promise<string> {
  const require = createRequire(import.meta.url);
  try {
    require.resolve(specifier);
  } catch {
    throw new Error(`${specifier} is not installed`);
  }

  // A variable specifier keeps TypeScript and bundlers from resolving a package that is
  // usually not installed.
  const packageName: string = specifier;
  try {
    await import(packageName);
  } catch (error) {
    // Typically the native addon is missing because the package's install script, which
    // downloads libtensorflow, did not run or failed.
    throw new Error(`${specifier} is installed but failed to load: ${errorMessage(error)}`, { cause: error });
  }
  if (!(await tf.setBackend('tensorflow'))) {
    throw new Error(`${specifier} loaded but the tensorflow backend failed to initialise`);
  }
  return `${specifier} loaded (${description})`;
}

async function loadWasm(): Promise<string> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (tf.findBackend('wasm') === null) {
    // In Node the backend looks for its .wasm binaries beside the calling script unless
    // setWasmPaths names the package's dist folder.
    const require = createRequire(import.meta.url);
    wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  }
  if (!(await tf.setBackend('wasm'))) {
    throw new Error('@tensorflow/tfjs-backend-wasm failed to initialise its WebAssembly module');
  }
  registerWasmTrainingKernels();

  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = wasm.getThreadsCount();
  return `WebAssembly with XNNPACK, SIMD ${simd ? 'on' : 'off'}, ${threads} thread(s)`;
}

async function loadCpu(): Promise<string> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) {
    throw new Error('@tensorflow/tfjs-backend-cpu failed to initialise');
  }
  return 'plain JavaScript kernels, the slowest backend';
}

function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Native-addon errors span several lines; the first one names the problem.
  return message.split('\n')[0]!.trim();
}
