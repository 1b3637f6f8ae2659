export { exportOnnxModel, ONNX_IR_VERSION, ONNX_OPSET, type OnnxExportOptions } from './export-model.ts';
export { ONNX_INPUT, ONNX_OUTPUT, onnxEmbeddingFeeds, onnxScoreFeeds, onnxInputSpecs, type OnnxFeed, type OnnxInputSpec } from './onnx-inputs.ts';
export { decodeModel, type ModelProto } from './onnx-proto.ts';
