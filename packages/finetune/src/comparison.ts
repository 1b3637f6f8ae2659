import * as tf from '@tensorflow/tfjs-core';
import { Random, type Logger } from '@mcm/common';
import type { CustomerModel } from '@mcm/model';
import { FIRST_VALUE_ID } from '@mcm/schema';
import { AdamW, buildBatch, rankingMetrics, type ExampleRef, type TaskMetrics, type TrainingData } from '@mcm/training';
import { ActionHead } from './action-head.ts';
import { AggregateFeatures } from './aggregate-features.ts';
import { historyOf, readEventTypeIds, type History } from './history.ts';
import type { OfferData, OfferSplit } from './offers.ts';
import { BoostedTrees } from './tree-baseline.ts';

/** Settings of the fine-tuning comparison, each with its reason. */
export const FINETUNE_DEFAULTS = {
  /** Events of history the MCM variants read before an offer: the pre-training default of the demo runs is longer, but 50 keeps end-to-end steps affordable on a CPU. */
  maxHistory: 50,
  batchSize: 32,
  /** Width of the head's hidden layer. */
  headWidth: 64,
  /** Adam's usual rate for a freshly initialised small network. */
  headLearningRate: 3e-3,
  /** Rows per step of the head on frozen embeddings: each step is cheap, so larger batches cut the per-step overhead. */
  headBatchSize: 128,
  headEpochs: 20,
  /** Ten times below the pre-training peak, so fine-tuning adjusts the encoder without erasing it. */
  encoderLearningRate: 1e-4,
  endToEndEpochs: 3,
  /** Wall-clock minutes of end-to-end fine-tuning; the epoch running when it ends is cut short and still evaluated. */
  endToEndBudgetMinutes: 12,
  seed: 1,
  /** Cut-offs of the conversion metrics; 10 is the primary one, over the 28 actions. */
  ks: [3, 10],
} as const;

/** One converted offer as a training or evaluation example. */
export interface ActionExample {
  /** The events the MCM variants read: the most recent maxHistory before the offer. */
  ref: ExampleRef;
  /** Every event before the offer, for the aggregate features. */
  history: History;
  /** Index of the converted action. */
  label: number;
}

export interface ComparisonOptions {
  model: CustomerModel;
  data: TrainingData;
  offers: OfferData;
  logger: Logger;
  maxHistory?: number;
  batchSize?: number;
  headEpochs?: number;
  endToEndEpochs?: number;
  endToEndBudgetMinutes?: number;
  seed?: number;
  /** Variants to run; default all three. */
  variants?: readonly ComparisonVariant[];
}

export type ComparisonVariant = 'gbdt' | 'frozen' | 'end-to-end';

/** Test metrics of one variant and how long it took. */
export interface VariantResult {
  variant: ComparisonVariant;
  metrics: TaskMetrics;
  /** Validation NDCG@10 of the selected weights (the best epoch). */
  validationNdcg: number;
  seconds: number;
  detail: Record<string, unknown>;
}

/**
 * Trains and evaluates the three ways of predicting which action a customer converts on:
 * gradient-boosted trees on aggregate features, the frozen MCM encoder with a new head, and
 * MCM fine-tuned end to end from that head. Every variant learns from the train part,
 * picks its epoch on the validation part, and is scored on the test part: conversion
 * NDCG@10 over the 28 actions, for offers that converted.
 */
export async function runComparison(options: ComparisonOptions): Promise<VariantResult[]> {
  const { data, offers, logger } = options;
  const maxHistory = options.maxHistory ?? FINETUNE_DEFAULTS.maxHistory;
  const variants = options.variants ?? ['gbdt', 'frozen', 'end-to-end'];
  const examples = {
    train: buildActionExamples(data, offers, 'train', maxHistory),
    validation: buildActionExamples(data, offers, 'validation', maxHistory),
    test: buildActionExamples(data, offers, 'test', maxHistory),
  };
  logger.info({ train: examples.train.length, validation: examples.validation.length, test: examples.test.length, maxHistory }, 'converted offers per part');
  const actions = offers.summary.actions.length;
  const results: VariantResult[] = [];

  if (variants.includes('gbdt')) results.push(await runBoostedTrees(options, examples, actions));
  if (variants.includes('frozen') || variants.includes('end-to-end')) {
    const head = new ActionHead(options.model.config.hidden, FINETUNE_DEFAULTS.headWidth, actions, new Random(options.seed ?? FINETUNE_DEFAULTS.seed));
    try {
      const frozen = trainFrozenHead(options, head, examples, actions);
      if (variants.includes('frozen')) results.push(frozen);
      if (variants.includes('end-to-end')) results.push(fineTuneEndToEnd(options, head, examples, actions));
    } finally {
      head.dispose();
    }
  }
  return results;
}

/** Builds the examples of one part from its converted offers. */
export function buildActionExamples(data: TrainingData, offers: OfferData, split: OfferSplit, maxHistory: number): ActionExample[] {
  const byId = new Map(data.customers.map((record) => [record.id, record]));
  const examples: ActionExample[] = [];
  for (const offer of offers.records) {
    if (offer.split !== split || offer.converted === null) continue;
    const record = byId.get(offer.customerId);
    if (record === undefined) throw new Error(`offer for customer "${offer.customerId}", who is not in ${data.dir}; generate the offers from this ingest output`);
    const end = record.start + offer.historyLength;
    examples.push({
      ref: { shard: data.shards[record.shard]!, customer: record.customer, start: Math.max(record.start, end - maxHistory), end },
      history: historyOf(data, record, offer.historyLength),
      label: offer.converted,
    });
  }
  return examples;
}

/** Conversion NDCG, recall and MRR at FINETUNE_DEFAULTS.ks, with the training package's ranking code. */
export function conversionMetrics(scores: Float32Array, labels: readonly number[], actions: number): TaskMetrics {
  // The ranking code skips ids 0 and 1 (padding, out-of-vocabulary), so actions start at FIRST_VALUE_ID.
  const width = actions + FIRST_VALUE_ID;
  const padded = new Float32Array(labels.length * width).fill(-Infinity);
  for (let r = 0; r < labels.length; r++) padded.set(scores.subarray(r * actions, (r + 1) * actions), r * width + FIRST_VALUE_ID);
  return rankingMetrics(padded, width, Int32Array.from(labels, (label) => label + FIRST_VALUE_ID), FINETUNE_DEFAULTS.ks);
}

type ExampleParts = Record<OfferSplit, ActionExample[]>;

async function runBoostedTrees(options: ComparisonOptions, examples: ExampleParts, actions: number): Promise<VariantResult> {
  const start = performance.now();
  const types = await readEventTypeIds(options.data);
  const features = new AggregateFeatures(options.data.manifest.vocabularies.product_line!, options.offers.summary.actions, types);
  const rows = (part: ActionExample[]) => part.map((example) => features.compute(example.history));

  const trees = new BoostedTrees(actions, options.seed ?? FINETUNE_DEFAULTS.seed);
  trees.train(rows(examples.train), examples.train.map((example) => example.label));
  const validation = conversionMetrics(trees.scores(rows(examples.validation)), examples.validation.map((example) => example.label), actions);
  const metrics = conversionMetrics(trees.scores(rows(examples.test)), examples.test.map((example) => example.label), actions);
  const seconds = (performance.now() - start) / 1000;
  options.logger.info({ variant: 'gbdt', ndcg: metrics['ndcg@10'], seconds }, 'variant evaluated');
  return { variant: 'gbdt', metrics, validationNdcg: validation['ndcg@10']!, seconds, detail: { features: features.names.length } };
}

function trainFrozenHead(options: ComparisonOptions, head: ActionHead, examples: ExampleParts, actions: number): VariantResult {
  const start = performance.now();
  const { model, logger } = options;
  const batchSize = options.batchSize ?? FINETUNE_DEFAULTS.batchSize;
  const headBatchSize = FINETUNE_DEFAULTS.headBatchSize;
  const embeddings = {
    train: embedExamples(model, examples.train, batchSize),
    validation: embedExamples(model, examples.validation, batchSize),
    test: embedExamples(model, examples.test, batchSize),
  };
  logger.info({ variant: 'frozen', examples: examples.train.length + examples.validation.length + examples.test.length, seconds: (performance.now() - start) / 1000 }, 'embeddings computed');
  const labels = (part: ActionExample[]) => part.map((example) => example.label);
  const hidden = model.config.hidden;
  const optimizer = new AdamW(head.variables, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 });
  const random = new Random((options.seed ?? FINETUNE_DEFAULTS.seed) ^ 0x5bd1e995);
  const score = (matrix: Float32Array) => tf.tidy(() => head.apply(tf.tensor2d(matrix, [matrix.length / hidden, hidden])).dataSync() as Float32Array);

  let best = { ndcg: -1, epoch: 0, weights: head.snapshot() };
  const epochs = options.headEpochs ?? FINETUNE_DEFAULTS.headEpochs;
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const order = random.shuffle(examples.train.map((_, i) => i));
      for (let from = 0; from < order.length; from += headBatchSize) {
        const rows = order.slice(from, from + headBatchSize);
        const inputs = new Float32Array(rows.length * hidden);
        rows.forEach((row, r) => inputs.set(embeddings.train.subarray(row * hidden, (row + 1) * hidden), r * hidden));
        const batchLabels = rows.map((row) => examples.train[row]!.label);
        step(optimizer, head.variables, FINETUNE_DEFAULTS.headLearningRate, () => crossEntropy(head.apply(tf.tensor2d(inputs, [rows.length, hidden])), batchLabels, actions));
      }
      const ndcg = conversionMetrics(score(embeddings.validation), labels(examples.validation), actions)['ndcg@10']!;
      if (ndcg > best.ndcg) {
        for (const tensor of best.weights.values()) tensor.dispose();
        best = { ndcg, epoch, weights: head.snapshot() };
      }
      logger.info({ variant: 'frozen', epoch, validationNdcg: ndcg, seconds: (performance.now() - start) / 1000 }, 'head epoch');
    }
  } finally {
    optimizer.dispose();
  }
  head.restore(best.weights);

  const metrics = conversionMetrics(score(embeddings.test), labels(examples.test), actions);
  const seconds = (performance.now() - start) / 1000;
  logger.info({ variant: 'frozen', ndcg: metrics['ndcg@10'], bestEpoch: best.epoch, seconds }, 'variant evaluated');
  return { variant: 'frozen', metrics, validationNdcg: best.ndcg, seconds, detail: { epochs, bestEpoch: best.epoch } };
}

function fineTuneEndToEnd(options: ComparisonOptions, head: ActionHead, examples: ExampleParts, actions: number): VariantResult {
  const start = performance.now();
  const { model, logger } = options;
  const batchSize = options.batchSize ?? FINETUNE_DEFAULTS.batchSize;
  const budgetMs = (options.endToEndBudgetMinutes ?? FINETUNE_DEFAULTS.endToEndBudgetMinutes) * 60_000;
  const epochs = options.endToEndEpochs ?? FINETUNE_DEFAULTS.endToEndEpochs;
  const featureNames = model.config.features.map((feature) => feature.name);
  const encoderVariables = new Map([...model.variables].filter(([, variable]) => variable.trainable));
  const adamw = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };
  const encoderOptimizer = new AdamW(encoderVariables, adamw);
  const headOptimizer = new AdamW(head.variables, adamw);
  const random = new Random((options.seed ?? FINETUNE_DEFAULTS.seed) ^ 0x1b873593);
  const evaluate = (part: ActionExample[]) => conversionMetrics(scoreExamples(model, head, part, batchSize), part.map((example) => example.label), actions);

  const outOfTime = () => performance.now() - start >= budgetMs;

  let best = { ndcg: evaluate(examples.validation)['ndcg@10']!, epoch: 0, encoder: model.getWeights(), head: head.snapshot() };
  let epochsRun = 0;
  try {
    for (let epoch = 1; epoch <= epochs && !outOfTime(); epoch++) {
      const order = random.shuffle(examples.train.map((_, i) => i));
      for (let from = 0; from < order.length; from += batchSize) {
        if (outOfTime()) {
          logger.info({ variant: 'end-to-end', epoch, offers: from, budgetMinutes: budgetMs / 60_000 }, 'time budget reached: the epoch ends early');
          break;
        }
        const rows = order.slice(from, from + batchSize).map((row) => examples.train[row]!);
        const batch = buildBatch(rows.map((example) => example.ref), featureNames);
        const labels = rows.map((example) => example.label);
        const all = new Map([...encoderVariables, ...head.variables]);
        const loss = () => crossEntropy(head.apply(model.embed(batch)), labels, actions);
        const { value, grads } = tf.variableGrads(loss, [...all.values()]);
        value.dispose();
        // The pre-training task heads are not on the path of the embedding and get no gradient.
        const gradientsOf = (variables: ReadonlyMap<string, tf.Variable>) =>
          new Map([...variables].filter(([, variable]) => grads[variable.name] != null).map(([name, variable]) => [name, grads[variable.name]!]));
        encoderOptimizer.apply(gradientsOf(encoderVariables), FINETUNE_DEFAULTS.encoderLearningRate);
        headOptimizer.apply(gradientsOf(head.variables), FINETUNE_DEFAULTS.headLearningRate / 10);
        for (const gradient of Object.values(grads)) gradient?.dispose();
      }
      epochsRun = epoch;
      const ndcg = evaluate(examples.validation)['ndcg@10']!;
      logger.info({ variant: 'end-to-end', epoch, validationNdcg: ndcg, seconds: (performance.now() - start) / 1000 }, 'fine-tuning epoch');
      if (ndcg > best.ndcg) {
        for (const tensor of best.head.values()) tensor.dispose();
        best = { ndcg, epoch, encoder: model.getWeights(), head: head.snapshot() };
      }
    }
  } finally {
    encoderOptimizer.dispose();
    headOptimizer.dispose();
  }
  model.setWeights(best.encoder);
  head.restore(best.head);

  const metrics = evaluate(examples.test);
  const seconds = (performance.now() - start) / 1000;
  logger.info({ variant: 'end-to-end', ndcg: metrics['ndcg@10'], bestEpoch: best.epoch, seconds }, 'variant evaluated');
  return { variant: 'end-to-end', metrics, validationNdcg: best.ndcg, seconds, detail: { epochs: epochsRun, bestEpoch: best.epoch } };
}

/** Mean softmax cross-entropy of logits [B, actions] against the label indices. */
function crossEntropy(logits: tf.Tensor2D, labels: readonly number[], actions: number): tf.Scalar {
  const targets = tf.oneHot(tf.tensor1d([...labels], 'int32'), actions);
  return tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

/** Runs one optimizer step on `variables`. */
function step(optimizer: AdamW, variables: ReadonlyMap<string, tf.Variable>, learningRate: number, loss: () => tf.Scalar): void {
  const { value, grads } = tf.variableGrads(loss, [...variables.values()]);
  value.dispose();
  optimizer.apply(new Map([...variables].map(([name, variable]) => [name, grads[variable.name]!])), learningRate);
  for (const gradient of Object.values(grads)) gradient.dispose();
}

/** Returns the embeddings of the examples, row-major [examples, hidden], in example order. */
function embedExamples(model: CustomerModel, examples: readonly ActionExample[], batchSize: number): Float32Array {
  const hidden = model.config.hidden;
  const featureNames = model.config.features.map((feature) => feature.name);
  const out = new Float32Array(examples.length * hidden);
  for (const rows of lengthSortedBatches(examples, batchSize)) {
    const embedding = model.embed(buildBatch(rows.map((row) => examples[row]!.ref), featureNames));
    const values = embedding.dataSync();
    embedding.dispose();
    rows.forEach((row, r) => out.set(values.subarray(r * hidden, (r + 1) * hidden), row * hidden));
  }
  return out;
}

/** Returns the head's scores of the examples, row-major [examples, actions], in example order. */
function scoreExamples(model: CustomerModel, head: ActionHead, examples: readonly ActionExample[], batchSize: number): Float32Array {
  const featureNames = model.config.features.map((feature) => feature.name);
  let out = new Float32Array(0);
  for (const rows of lengthSortedBatches(examples, batchSize)) {
    const logits = tf.tidy(() => head.apply(model.embed(buildBatch(rows.map((row) => examples[row]!.ref), featureNames))));
    const values = logits.dataSync();
    const actions = logits.shape[1];
    logits.dispose();
    if (out.length === 0) out = new Float32Array(examples.length * actions);
    rows.forEach((row, r) => out.set(values.subarray(r * actions, (r + 1) * actions), row * actions));
  }
  return out;
}

/** Batches of example indices sorted by history length, so a batch pads little. */
function lengthSortedBatches(examples: readonly ActionExample[], batchSize: number): number[][] {
  const order = examples.map((_, i) => i).sort((a, b) => examples[a]!.ref.end - examples[a]!.ref.start - (examples[b]!.ref.end - examples[b]!.ref.start));
  const batches: number[][] = [];
  for (let from = 0; from < order.length; from += batchSize) batches.push(order.slice(from, from + batchSize));
  return batches;
}
