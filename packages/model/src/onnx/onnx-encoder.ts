import { tableRows, type ModelConfig } from '../config.ts';
import { EPSILON as LAYER_NORM_EPSILON } from '../layer-norm.ts';
import { MASKED_LOGIT } from '../prepared-batch.ts';
import type { OnnxGraphBuilder } from './graph-builder.ts';
import { ONNX_INPUT } from './onnx-inputs.ts';
import type { WeightReader } from './weight-reader.ts';

/**
 * Adds the encoder to the graph, as `Encoder.apply` computes it without dropout, and
 * returns the name of the last block's hidden states, [B, T, hidden]. Each step names
 * the tfjs layer it mirrors.
 */
export function encoderGraph(g: OnnxGraphBuilder, weights: WeightReader, config: ModelConfig): string {
  const mask = g.scoped('attention_mask', () => attentionMask(g, config));

  let x = g.scoped('embedding', () => embedding(g, weights, config)); // [B, T, hidden]
  if (config.normalization === 'post') x = layerNorm(g, weights, 'embedding/norm', x, config.hidden);

  for (let layer = 0; layer < config.layers; layer++) {
    const name = `block${layer}`;
    x = g.scoped(name, () => block(g, weights, config, name, x, mask));
  }

  if (config.normalization === 'pre') x = layerNorm(g, weights, 'final_norm', x, config.hidden);
  return x;
}

/** Adds HeterogeneousEmbedding.apply: each feature's rows times their averaging weights, summed, plus the position rows. */
function embedding(g: OnnxGraphBuilder, weights: WeightReader, config: ModelConfig): string {
  const { hidden } = config;

  const pooled = config.features.map((feature) =>
    g.scoped(feature.name, () => {
      const table = weights.take(`embedding/${feature.name}`, [tableRows(config, feature), hidden]);
      const rows = g.node('Gather', [table, ONNX_INPUT.ids(feature.name)], { axis: { int: 0 } }); // [B, T, W, hidden]
      const slotWeights = g.node('Unsqueeze', [ONNX_INPUT.weights(feature.name), g.int64s('axes', [3])]); // [B, T, W, 1]
      return g.node('ReduceSum', [g.node('Mul', [rows, slotWeights]), g.int64s('axes', [2])], { keepdims: { int: 0 } }); // [B, T, hidden]
    }),
  );
  const events = pooled.length === 1 ? pooled[0]! : g.node('Sum', pooled); // [B, T, hidden]

  const positionTable = weights.take('embedding/position', [config.maxLength, hidden]);
  const positions = g.node('Gather', [positionTable, ONNX_INPUT.positionIds], { axis: { int: 0 } }); // [B, T, hidden]
  return g.node('Add', [events, positions]);
}

/**
 * Adds Encoder.attentionMask: the key mask as [B, 1, 1, T]; with causal attention plus the
 * [T, T] upper triangle of MASKED_LOGIT, cut from a [maxLength, maxLength] constant
 * because T is known only at run time.
 */
function attentionMask(g: OnnxGraphBuilder, config: ModelConfig): string {
  const keyMask = g.node('Unsqueeze', [ONNX_INPUT.keyMask, g.int64s('axes', [1, 2])]); // [B, 1, 1, T]
  if (config.attention === 'bidirectional') return keyMask;

  const size = config.maxLength;
  const future = new Float32Array(size * size);
  for (let query = 0; query < size; query++) {
    for (let key = query + 1; key < size; key++) future[query * size + key] = MASKED_LOGIT;
  }
  const table = g.constant('future', 'float32', future, [size, size]);
  const length = g.node('Shape', [ONNX_INPUT.keyMask], { start: { int: 1 }, end: { int: 2 } }); // [1]: T
  const ends = g.node('Concat', [length, length], { axis: { int: 0 } }); // [2]: T, T
  const causal = g.node('Slice', [table, g.int64s('starts', [0, 0]), ends, g.int64s('axes', [0, 1])]); // [T, T]
  return g.node('Add', [keyMask, causal]); // [B, 1, T, T]
}

/** Adds TransformerBlock.apply without dropout, post-LN or pre-LN. x: [B, T, hidden]. */
function block(g: OnnxGraphBuilder, weights: WeightReader, config: ModelConfig, name: string, x: string, mask: string): string {
  const { hidden } = config;
  const attend = (input: string) => g.scoped('attention', () => attention(g, weights, config, `${name}/attention`, input, mask));
  const transform = (input: string) => g.scoped('ffn', () => feedForward(g, weights, config, `${name}/ffn`, input));
  const attentionNorm = (input: string) => layerNorm(g, weights, `${name}/attention_norm`, input, hidden);
  const ffnNorm = (input: string) => layerNorm(g, weights, `${name}/ffn_norm`, input, hidden);

  if (config.normalization === 'post') {
    const attended = attentionNorm(g.node('Add', [x, attend(x)]));
    return ffnNorm(g.node('Add', [attended, transform(attended)]));
  }
  const attended = g.node('Add', [x, attend(attentionNorm(x))]);
  return g.node('Add', [attended, transform(ffnNorm(attended))]);
}

/** Adds MultiHeadSelfAttention.apply. x: [B, T, hidden]; mask: additive, [B, 1, 1, T] or [B, 1, T, T]. */
function attention(g: OnnxGraphBuilder, weights: WeightReader, config: ModelConfig, name: string, x: string, mask: string): string {
  const { hidden, heads } = config;
  const headSize = hidden / heads;
  const headShape = g.int64s('head_shape', [0, 0, heads, headSize]);
  const split = (t: string, perm: number[]) => g.node('Transpose', [g.node('Reshape', [t, headShape])], { perm: { ints: perm } });

  const q = split(dense(g, weights, `${name}/query`, x, hidden, hidden), [0, 2, 1, 3]); // [B, h, T, hs]
  const kTransposed = split(dense(g, weights, `${name}/key`, x, hidden, hidden), [0, 2, 3, 1]); // [B, h, hs, T]
  const v = split(dense(g, weights, `${name}/value`, x, hidden, hidden), [0, 2, 1, 3]); // [B, h, T, hs]

  const scaled = g.node('Mul', [g.node('MatMul', [q, kTransposed]), g.scalar('scale', 1 / Math.sqrt(headSize))]); // [B, h, T, T]
  const probabilities = g.node('Softmax', [g.node('Add', [scaled, mask])], { axis: { int: -1 } });
  const context = g.node('MatMul', [probabilities, v]); // [B, h, T, hs]

  const merged = g.node('Reshape', [g.node('Transpose', [context], { perm: { ints: [0, 2, 1, 3] } }), g.int64s('merged_shape', [0, 0, hidden])]); // [B, T, hidden]
  return dense(g, weights, `${name}/output`, merged, hidden, hidden);
}

/** Adds FeedForward.apply: hidden -> ffnWidth -> exact GELU -> hidden. */
function feedForward(g: OnnxGraphBuilder, weights: WeightReader, config: ModelConfig, name: string, x: string): string {
  const inner = dense(g, weights, `${name}/inner`, x, config.hidden, config.ffnWidth); // [B, T, ffnWidth]
  return dense(g, weights, `${name}/outer`, gelu(g, inner), config.ffnWidth, config.hidden);
}

/** Adds gelu of feed-forward.ts: x * 0.5 * (1 + erf(x / sqrt(2))), with Erf as tfjs computes it. */
function gelu(g: OnnxGraphBuilder, x: string): string {
  return g.scoped('gelu', () => {
    const half = g.node('Mul', [x, g.scalar('half', 0.5)]);
    const erf = g.node('Erf', [g.node('Mul', [x, g.scalar('sqrt1_2', Math.SQRT1_2)])]);
    return g.node('Mul', [half, g.node('Add', [erf, g.scalar('one', 1)])]);
  });
}

/** Adds Dense.apply: x W + b over the last axis. */
function dense(g: OnnxGraphBuilder, weights: WeightReader, name: string, x: string, inputs: number, outputs: number): string {
  const kernel = weights.take(`${name}/kernel`, [inputs, outputs]);
  const bias = weights.take(`${name}/bias`, [outputs]);
  return g.node('Add', [g.node('MatMul', [x, kernel]), bias]);
}

/** Adds LayerNorm.apply, as the opset-17 LayerNormalization over the last axis with the same epsilon. */
function layerNorm(g: OnnxGraphBuilder, weights: WeightReader, name: string, x: string, size: number): string {
  const gamma = weights.take(`${name}/gamma`, [size]);
  const beta = weights.take(`${name}/beta`, [size]);
  return g.scoped(name.split('/').pop()!, () => g.node('LayerNormalization', [x, gamma, beta], { axis: { int: -1 }, epsilon: { float: LAYER_NORM_EPSILON } }));
}
