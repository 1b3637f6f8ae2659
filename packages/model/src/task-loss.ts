import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '@mcm/common';
import { FIRST_VALUE_ID } from '@mcm/schema';
import type { SampledCandidates } from './candidate-sampler.ts';
import { crossEntropy, labelWeights } from './cross-entropy.ts';
import { MASKED_LOGIT } from './prepared-batch.ts';
import type { CandidateScorer } from './readout.ts';
import type { TaskHead } from './task-head.ts';

/**
 * Mean cross-entropy of `labels` against every candidate of the task, ids 1 .. V-1:
 * out-of-vocabulary (1) is an ordinary class in training, padding (0) is never one.
 * Rows labelled 0 are left out of the mean.
 */
export function fullSoftmaxLoss(head: TaskHead, scorer: CandidateScorer, labels: Int32Array): tf.Scalar {
  const candidates = head.task.vocabularySize - 1;
  const logits = head.scoreRange(scorer, 1, candidates); // [B, V - 1]

  const targets = labels.map((label) => Math.max(label, 1) - 1);
  return crossEntropy(logits, targets, labelWeights(labels));
}

/**
 * Sampled-softmax cross-entropy: each customer scores its positive and the N shared
 * negatives. Each negative's logit is reduced by log(N q(w)), so that
 * exp(s(pos)) + sum_j exp(s(w_j)) / (N q(w_j)) estimates the full softmax's normaliser
 * without bias. A negative equal to the customer's positive (an accidental hit) is
 * masked out, because the positive is already counted exactly.
 * Rows labelled 0 are left out of the mean.
 */
export function sampledSoftmaxLoss(
  head: TaskHead,
  scorer: CandidateScorer,
  labels: Int32Array,
  negatives: SampledCandidates,
): tf.Scalar {
  const batchSize = labels.length;
  const count = negatives.ids.length;

  const positive = tf.reshape(head.scorePaired(scorer, labels), [batchSize, 1]); // [B, 1]
  const sampled = head.scoreShared(scorer, negatives.ids); // [B, N]

  const adjustment = new Float32Array(batchSize * count);
  for (let b = 0; b < batchSize; b++) {
    for (let j = 0; j < count; j++) {
      const hit = negatives.ids[j] === labels[b];
      adjustment[b * count + j] = hit ? MASKED_LOGIT : -negatives.logExpectedCounts[j]!;
    }
  }
  const corrected = tf.add(sampled, tf.tensor2d(adjustment, [batchSize, count])); // [B, N]

  const logits = tf.concat([positive, corrected], 1) as tf.Tensor2D; // [B, 1 + N]
  return crossEntropy(logits, new Int32Array(batchSize), labelWeights(labels));
}

/**
 * SASRec's binary cross-entropy: each labelled row scores its positive and one negative
 * drawn uniformly from the task's values other than the positive,
 * L = -log sigmoid(s(pos)) - log sigmoid(-s(neg)), averaged over labelled rows.
 */
export function binaryLoss(head: TaskHead, scorer: CandidateScorer, labels: Int32Array, random: Random): tf.Scalar {
  const values = head.task.vocabularySize - FIRST_VALUE_ID;
  if (values < 2) throw new Error(`task "${head.task.name}" has ${values} values; the binary loss needs at least 2 to draw a negative`);
  const negatives = new Int32Array(labels.length);
  for (let b = 0; b < labels.length; b++) {
    let negative = FIRST_VALUE_ID + random.int(values);
    while (negative === labels[b]) negative = FIRST_VALUE_ID + random.int(values);
    negatives[b] = negative;
  }

  const positive = head.scorePaired(scorer, labels); // [B]
  const negative = head.scorePaired(scorer, negatives); // [B]
  // -log sigmoid(x) = softplus(-x); tfjs 4.22's logSigmoid gradient fails inside variableGrads.
  const perRow = tf.add(tf.softplus(tf.neg(positive)), tf.softplus(negative)); // [B]
  return tf.sum(tf.mul(perRow, tf.tensor1d(labelWeights(labels)))) as tf.Scalar;
}
