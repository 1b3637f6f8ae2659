export * from './sequence-batch.ts';
export * from './config.ts';
export * from './config-from-manifest.ts';
export { CustomerModel, type LabelLayout, type ModelWeights, type ScoreOptions, type TaskLossOptions } from './customer-model.ts';
export { appendMaskEvent } from './masked-inference.ts';
export { LogUniformSampler, type SampledCandidates } from './candidate-sampler.ts';
export * from './engine/index.ts';
export * from './onnx/index.ts';
