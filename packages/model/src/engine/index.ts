export { adamUpdate, type AdamUpdateSettings } from './adam.ts';
export { attention } from './attention.ts';
export { initBackend, type BackendChoice, type BackendName, type BackendPreference } from './backend.ts';
export { gelu, layerNorm } from './fused.ts';
export { linear, matMul } from './ops.ts';
export { valuesView } from './values-view.ts';
export {
  registerWasmTrainingKernels,
  slicedBatchMatMul,
  SLICED_BATCH_MAT_MUL,
  type WasmKernelOptions,
} from './wasm-kernels.ts';
