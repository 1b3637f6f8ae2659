import { FIRST_VALUE_ID } from '@mcm/schema';
import { tableRows, type ModelConfig, type TaskConfig } from '../config.ts';
import type { OnnxGraphBuilder } from './graph-builder.ts';
import { ONNX_INPUT } from './onnx-inputs.ts';
import type { WeightReader } from './weight-reader.ts';

/**
 * Adds every task's full-ranking scores, [B, vocabularySize], as CustomerModel.scores
 * computes them: the readout of `config.readout` against each task's candidate
 * embeddings, plus the candidate bias, with ids 0 and 1 at -Infinity. Returns the score
 * value of each task by task name. hidden: [B, T, hidden].
 */
export function taskScoresGraph(g: OnnxGraphBuilder, weights: WeightReader, config: ModelConfig, hidden: string): Map<string, string> {
  const readout = g.scoped('readout', () => (config.readout === 'attentional' ? attentionalReadout(g, hidden) : lastPositionReadout(g, config, hidden)));

  const scores = new Map<string, string>();
  for (const task of config.tasks) {
    scores.set(
      task.name,
      g.scoped(`task/${task.name}`, () => {
        const candidates = candidateEmbeddings(g, weights, config, task); // [hidden, V]
        let taskScores = readout(candidates); // [B, V]
        if (config.candidateBias) taskScores = g.node('Add', [taskScores, weights.take(`task/${task.name}/bias`, [task.vocabularySize])]);
        return g.node('Add', [taskScores, g.constant('never_ranked', 'float32', neverRanked(task.vocabularySize), [task.vocabularySize])]);
      }),
    );
  }
  return scores;
}

/** Adds the customer embedding as CustomerModel.embed computes it: the mean of the hidden states over real positions, [B, hidden]. */
export function customerEmbeddingGraph(g: OnnxGraphBuilder, hidden: string): string {
  return g.scoped('customer_embedding', () => {
    const meanWeights = g.node('Unsqueeze', [ONNX_INPUT.meanWeights, g.int64s('axes', [2])]); // [B, T, 1]
    return g.node('ReduceSum', [g.node('Mul', [hidden, meanWeights]), g.int64s('axes', [1])], { keepdims: { int: 0 } }); // [B, hidden]
  });
}

/**
 * Adds TaskHead's candidates, transposed for the readout: rows of the task feature's table
 * (the tied weights, without the mask token's row), times the task's projection.
 * Returns [hidden, V]. The table and the projection are initializers, so onnxruntime
 * computes this once, when it folds constants at session creation.
 */
function candidateEmbeddings(g: OnnxGraphBuilder, weights: WeightReader, config: ModelConfig, task: TaskConfig): string {
  const feature = config.features.find((candidate) => candidate.name === task.feature);
  if (feature === undefined) throw new Error(`task "${task.name}" predicts feature "${task.feature}", which is not an input feature`);
  const rows = tableRows(config, feature);

  let candidates = weights.take(`embedding/${feature.name}`, [rows, config.hidden]); // [rows, hidden]
  if (rows !== task.vocabularySize) {
    candidates = g.node('Slice', [candidates, g.int64s('starts', [0]), g.int64s('ends', [task.vocabularySize]), g.int64s('axes', [0])]); // [V, hidden]
  }
  if (config.candidateProjection) {
    candidates = g.node('MatMul', [candidates, weights.take(`task/${task.name}/projection`, [config.hidden, config.hidden])]); // [V, hidden]
  }
  return g.node('Transpose', [candidates], { perm: { ints: [1, 0] } }); // [hidden, V]
}

/**
 * Returns the scoring of AttentionalReadout: each candidate attends over the real positions with its own
 * embedding as the query, and its score is sum_i a_{w,i} z_{w,i} with z the logits. The
 * softmax runs over T (axis 1) of [B, T, V], which saves the [B, V, T] transpose tfjs makes.
 */
function attentionalReadout(g: OnnxGraphBuilder, hidden: string): (candidates: string) => string {
  const keyMask = g.node('Unsqueeze', [ONNX_INPUT.keyMask, g.int64s('axes', [2])]); // [B, T, 1]
  return (candidates) => {
    const logits = g.node('MatMul', [hidden, candidates]); // [B, T, V]
    const attention = g.node('Softmax', [g.node('Add', [logits, keyMask])], { axis: { int: 1 } }); // [B, T, V]
    return g.node('ReduceSum', [g.node('Mul', [attention, logits]), g.int64s('axes', [1])], { keepdims: { int: 0 } }); // [B, V]
  };
}

/** Returns the scoring of LastPositionReadout, s(w) = h_last . e_w, with h_last the hidden state of each history's most recent event. */
function lastPositionReadout(g: OnnxGraphBuilder, config: ModelConfig, hidden: string): (candidates: string) => string {
  const flat = g.node('Reshape', [hidden, g.int64s('flat_shape', [-1, config.hidden])]); // [B * T, hidden]
  const last = g.node('Gather', [flat, ONNX_INPUT.lastIndices], { axis: { int: 0 } }); // [B, hidden]
  return (candidates) => g.node('MatMul', [last, candidates]); // [B, V]
}

/** Returns the [V] vector added to the scores: -Infinity for padding and out-of-vocabulary, 0 for every value. */
function neverRanked(vocabularySize: number): Float32Array {
  const values = new Float32Array(vocabularySize);
  values.fill(-Infinity, 0, Math.min(FIRST_VALUE_ID, vocabularySize));
  return values;
}
