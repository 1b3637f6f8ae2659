import type { ModelConfig } from '../config.ts';
import type { ModelWeights } from '../customer-model.ts';
import { OnnxGraphBuilder } from './graph-builder.ts';
import { encoderGraph } from './onnx-encoder.ts';
import { ONNX_OUTPUT, onnxInputSpecs } from './onnx-inputs.ts';
import { encodeModel } from './onnx-proto.ts';
import { customerEmbeddingGraph, taskScoresGraph } from './onnx-readout.ts';
import { WeightReader } from './weight-reader.ts';

/**
 * ONNX operator set of the exported graph. 17 is the first with LayerNormalization;
 * onnxruntime has run it since version 1.14.
 */
export const ONNX_OPSET = 17;

/** IR version 8 is the one that goes with opset 17 (onnx 1.12). */
export const ONNX_IR_VERSION = 8;

/** Options of `exportOnnxModel`. */
export interface OnnxExportOptions {
  /** Key-value pairs stored in the model's metadata_props, e.g. the checkpoint step. */
  metadata?: Record<string, string>;
}

/**
 * Builds the ONNX model of a checkpoint: the encoder without dropout, one output per
 * task with the scores of its whole vocabulary (`scores/<task>`, [B, vocabularySize]),
 * and the customer embedding (`embedding`, [B, hidden]). The inputs are the arrays
 * `prepareBatch` computes (see `onnxInputSpecs`), and the weights are initializers under
 * their tfjs variable names. The model config is stored in the metadata as
 * `mcm.modelConfig`. Returns the bytes of an `.onnx` file.
 */
export function exportOnnxModel(config: ModelConfig, weights: ModelWeights, options: OnnxExportOptions = {}): Uint8Array {
  if (!Number.isInteger(config.hidden / config.heads)) {
    throw new Error(`hidden ${config.hidden} must be divisible by heads ${config.heads}`);
  }
  const g = new OnnxGraphBuilder();
  for (const spec of onnxInputSpecs(config)) g.input(spec.name, spec.type, spec.shape, spec.docString);

  const reader = new WeightReader(weights, g);
  const hidden = g.scoped('encoder', () => encoderGraph(g, reader, config)); // [B, T, hidden]

  for (const [task, scores] of taskScoresGraph(g, reader, config, hidden)) {
    const vocabularySize = config.tasks.find((candidate) => candidate.name === task)!.vocabularySize;
    g.output(ONNX_OUTPUT.scores(task), scores, 'float32', ['batch', vocabularySize], `scores of every candidate of task "${task}"; ids 0 and 1 are -Infinity`);
  }
  g.output(ONNX_OUTPUT.embedding, customerEmbeddingGraph(g, hidden), 'float32', ['batch', config.hidden], 'customer embedding: the mean of the hidden states over real positions');
  reader.assertAllUsed();

  const metadata = { 'mcm.modelConfig': JSON.stringify(config), ...options.metadata };
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'mcm',
    producerVersion: '0.1.0',
    docString: 'Multi-task customer model (MCM): transformer encoder over a customer history, with full-ranking scores per task.',
    graph: g.build('mcm'),
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
}
