import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { FIRST_VALUE_ID } from '@mcm/schema';
import './register-gradients.ts';
import { LogUniformSampler } from './candidate-sampler.ts';
import { validateModelConfig, type ModelConfig, type TaskConfig } from './config.ts';
import { noDropout, seededDropout } from './dropout.ts';
import { Encoder } from './encoder.ts';
import { ParameterStore } from './parameters.ts';
import { prepareBatch, type PreparedBatch } from './prepared-batch.ts';
import { rowScorer } from './last-position-readout.ts';
import { scoringBatch } from './masked-inference.ts';
import { createReadout, type CandidateScorer, type Readout } from './readout.ts';
import type { SequenceBatch, TaskLabels } from './sequence-batch.ts';
import { valuesView } from './engine/values-view.ts';
import { TaskHead } from './task-head.ts';
import { binaryLoss, fullSoftmaxLoss, sampledSoftmaxLoss } from './task-loss.ts';

/** Options of `CustomerModel.taskLosses`. */
export interface TaskLossOptions {
  /** Applies dropout and, above the threshold, candidate sampling. */
  training: boolean;
  /** Source of dropout seeds and sampled negatives; required when `training` is true. */
  random?: Random;
  /**
   * `next` (default): labels[task] is [B], the event after each history. `positions`:
   * labels[task] is [B * T], the target of every position (0 where there is none), read
   * out at that position's hidden state: next-event training at every position (SASRec)
   * or Cloze targets at masked positions (BERT4Rec). Needs the last-position readout.
   */
  labelLayout?: LabelLayout;
}

/** The layout of a batch's labels; see `TaskLossOptions.labelLayout`. */
export type LabelLayout = 'next' | 'positions';

/** Options of `CustomerModel.scores`. */
export interface ScoreOptions {
  /**
   * Candidates scored at once. Default: as many as keep one chunk's readout tensor
   * ([B, chunk, T] for the attentional readout) under 2^24 floats (64 MiB).
   */
  chunkSize?: number;
}

/** Weight values of a model by variable name, as getWeights returns and setWeights expects. */
export type ModelWeights = Record<string, { shape: number[]; values: Float32Array }>;

const CHUNK_FLOATS = 1 << 24;

/**
 * The multi-task customer model: heterogeneous embedding, transformer encoder, and one
 * readout shared by every task, whose candidates are the rows of the task feature's
 * embedding table.
 */
export class CustomerModel {
  /** Trainable variables with stable, readable names ("embedding/brand", "block0/attention/query/kernel"). */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  private readonly encoder: Encoder;
  private readonly readout: Readout;
  private readonly heads = new Map<string, TaskHead>();
  private readonly samplers = new Map<string, LogUniformSampler>();
  private disposed = false;

  private constructor(
    readonly config: ModelConfig,
    seed: number,
  ) {
    const store = new ParameterStore(new Random(seed));
    this.encoder = new Encoder(store, config);
    this.readout = createReadout(config);
    for (const task of config.tasks) {
      const table = this.encoder.embedding.tables.get(task.feature)!;
      this.heads.set(task.name, new TaskHead(store, config, task, table));
      this.samplers.set(task.name, new LogUniformSampler(task.vocabularySize));
    }
    this.variables = store.variables;
  }

  /** Creates a model with freshly initialised weights; the same config and seed give the same weights. */
  static create(config: ModelConfig, seed: number): CustomerModel {
    // Configurations saved before maskedInference and loss existed leave them out; they were off and softmax then.
    const filled: ModelConfig = {
      ...config,
      maskedInference: (config.maskedInference as boolean | undefined) ?? false,
      loss: (config.loss as ModelConfig['loss'] | undefined) ?? 'softmax',
    };
    validateModelConfig(filled);
    // A private copy, so a caller that edits its config object later cannot desync the model.
    return new CustomerModel(structuredClone(filled), seed);
  }

  /** Number of trainable weights. */
  get parameterCount(): number {
    let total = 0;
    for (const variable of this.variables.values()) total += variable.size;
    return total;
  }

  /**
   * Returns each task's mean cross-entropy of predicting labels[task] from the batch.
   * Call inside tf.tidy or optimizer.minimize, which dispose the intermediate tensors.
   *
   * With `training`, dropout is applied and a task whose vocabulary exceeds
   * sampledSoftmaxThreshold scores its positive plus sampled negatives; without it every
   * candidate is scored. Labels 0 are left out of the mean, and a task with no label in
   * the batch gets a loss of 0. Labels 1 (out-of-vocabulary) are ordinary targets.
   */
  taskLosses(batch: SequenceBatch, labels: TaskLabels, options: TaskLossOptions): Record<string, tf.Scalar> {
    this.assertLive();
    const prepared = prepareBatch(this.config, batch);
    const layout = options.labelLayout ?? 'next';
    const random = options.random;
    if (options.training && random === undefined) throw new Error('taskLosses with training: true needs options.random');

    const dropout = options.training ? seededDropout(random!) : noDropout;
    let scorer: CandidateScorer;
    let rowLabels: TaskLabels;
    if (layout === 'next') {
      this.validateLabels(labels, batch.batchSize);
      scorer = this.readout.begin(this.encoder.apply(prepared, dropout), prepared);
      rowLabels = labels;
    } else {
      const picked = this.labelledPositions(prepared, labels);
      if (picked.positions.length === 0) return Object.fromEntries(this.config.tasks.map((task) => [task.name, tf.scalar(0)]));
      const hidden = this.encoder.apply(prepared, dropout); // [B, T, hidden]
      const flat = tf.reshape(hidden, [prepared.batchSize * prepared.length, this.config.hidden]); // [B * T, hidden]
      scorer = rowScorer(tf.gather(flat, tf.tensor1d(picked.positions, 'int32')) as tf.Tensor2D); // [N, hidden]
      rowLabels = picked.labels;
    }

    const losses: Record<string, tf.Scalar> = {};
    for (const task of this.config.tasks) {
      const head = this.heads.get(task.name)!;
      const taskLabels = rowLabels[task.name]!;
      if (options.training && this.config.loss === 'binary') {
        losses[task.name] = binaryLoss(head, scorer, taskLabels, random!);
      } else if (options.training && task.vocabularySize > this.config.sampledSoftmaxThreshold) {
        const negatives = this.samplers.get(task.name)!.sample(random!, this.config.sampledNegatives);
        losses[task.name] = sampledSoftmaxLoss(head, scorer, taskLabels, negatives);
      } else {
        losses[task.name] = fullSoftmaxLoss(head, scorer, taskLabels);
      }
    }
    return losses;
  }

  /**
   * Returns full-ranking scores over every candidate of `task`, [B, vocabularySize], in
   * chunks of candidates to bound memory. Ids 0 (padding) and 1 (out-of-vocabulary) get
   * -Infinity, so they are never ranked and an out-of-vocabulary target counts as a miss.
   */
  scores(batch: SequenceBatch, task: string, options: ScoreOptions = {}): tf.Tensor2D {
    this.assertLive();
    const head = this.head(task);
    const vocabularySize = head.task.vocabularySize;

    return tf.tidy(() => {
      const { scorer, prepared } = this.encode(batch);
      const chunkSize = options.chunkSize ?? Math.max(1, Math.floor(CHUNK_FLOATS / (prepared.batchSize * scorer.floatsPerCandidate)));
      if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`chunkSize ${chunkSize} must be a positive integer`);

      const parts: tf.Tensor2D[] = [tf.fill([prepared.batchSize, FIRST_VALUE_ID], -Infinity)];
      for (let start = FIRST_VALUE_ID; start < vocabularySize; start += chunkSize) {
        const count = Math.min(chunkSize, vocabularySize - start);
        parts.push(tf.tidy(() => head.scoreRange(scorer, start, count)));
      }
      return tf.concat(parts, 1);
    });
  }

  /**
   * Returns the scores of the candidates `ids` of `task`, [B, ids.length], without dropout.
   * Ids 0 and 1 are scored like any other id. Use it to re-rank a shortlist.
   */
  candidateScores(batch: SequenceBatch, task: string, ids: Int32Array): tf.Tensor2D {
    this.assertLive();
    const head = this.head(task);
    for (const id of ids) {
      if (id < 0 || id >= head.task.vocabularySize) {
        throw new Error(`candidate id ${id} of task "${task}" is outside its vocabulary of ${head.task.vocabularySize}`);
      }
    }
    return tf.tidy(() => head.scoreShared(this.encode(batch).scorer, ids));
  }

  /** Returns the customer embedding: the mean of the last block's hidden states over real positions, [B, hidden]. */
  embed(batch: SequenceBatch): tf.Tensor2D {
    this.assertLive();
    return tf.tidy(() => {
      const prepared = prepareBatch(this.config, batch);
      const hidden = this.encoder.apply(prepared, noDropout); // [B, T, hidden]
      const weights = tf.tensor3d(prepared.meanWeights, [prepared.batchSize, prepared.length, 1]);
      return tf.sum(tf.mul(hidden, weights), 1) as tf.Tensor2D;
    });
  }

  /** Returns the last block's hidden states, [B, T, hidden], without dropout. Rows at padding positions are meaningless. */
  hiddenStates(batch: SequenceBatch): tf.Tensor3D {
    this.assertLive();
    return tf.tidy(() => this.encoder.apply(prepareBatch(this.config, batch), noDropout));
  }

  /** Returns a copy of every weight by variable name. */
  getWeights(): ModelWeights {
    this.assertLive();
    const weights: ModelWeights = {};
    for (const [name, variable] of this.variables) {
      weights[name] = { shape: [...variable.shape], values: Float32Array.from(valuesView(variable)) };
    }
    return weights;
  }

  /** Replaces every weight; checks all names and shapes before changing any. */
  setWeights(weights: ModelWeights): void {
    this.assertLive();
    for (const name of Object.keys(weights)) {
      if (!this.variables.has(name)) throw new Error(`weight "${name}" is not a variable of this model; check that the config matches`);
    }
    for (const [name, variable] of this.variables) {
      const weight = weights[name];
      if (weight === undefined) throw new Error(`weight "${name}" is missing`);
      if (weight.shape.length !== variable.shape.length || weight.shape.some((size, i) => size !== variable.shape[i])) {
        throw new Error(`weight "${name}" has shape [${weight.shape.join(', ')}] but the model expects [${variable.shape.join(', ')}]`);
      }
      if (weight.values.length !== variable.size) {
        throw new Error(`weight "${name}" has ${weight.values.length} values but its shape [${weight.shape.join(', ')}] needs ${variable.size}`);
      }
    }
    // The cpu backend keeps the very array a tensor is made from (wasm and tensorflow copy
    // it), and a caller may reuse its arrays: the distributed worker decodes every weights
    // version into one buffer.
    const copy = tf.getBackend() === 'cpu';
    for (const [name, variable] of this.variables) {
      const weight = weights[name]!;
      const values = copy ? weight.values.slice() : weight.values;
      tf.tidy(() => variable.assign(tf.tensor(values, weight.shape, 'float32')));
    }
  }

  /** Frees every variable; later calls throw. Calling it again does nothing. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const variable of this.variables.values()) variable.dispose();
  }

  private encode(batch: SequenceBatch): { scorer: CandidateScorer; prepared: PreparedBatch } {
    const prepared = prepareBatch(this.config, scoringBatch(this.config, batch));
    return { scorer: this.readout.begin(this.encoder.apply(prepared, noDropout), prepared), prepared };
  }

  private head(task: string): TaskHead {
    const head = this.heads.get(task);
    if (head === undefined) {
      throw new Error(`task "${task}" is not a task of this model (${this.config.tasks.map((t) => t.name).join(', ')})`);
    }
    return head;
  }

  /**
   * Checks per-position labels ([B * T] per task) and returns the flattened positions that
   * any task labels, with each task's labels at those positions. A label at a padding
   * position is an error: its hidden state is meaningless.
   */
  private labelledPositions(batch: PreparedBatch, labels: TaskLabels): { positions: Int32Array; labels: TaskLabels } {
    if (this.config.readout !== 'last-position') {
      throw new Error(`per-position labels need the last-position readout, but this model's readout is "${this.config.readout}"`);
    }
    const cells = batch.batchSize * batch.length;
    const labelled = new Uint8Array(cells);
    for (const task of this.config.tasks) {
      const taskLabels = labels[task.name];
      if (taskLabels === undefined) throw new Error(`labels for task "${task.name}" are missing`);
      if (taskLabels.length !== cells) {
        throw new Error(`per-position labels for task "${task.name}" have ${taskLabels.length} entries but batchSize x length is ${cells}`);
      }
      validateLabelRange(task, taskLabels);
      for (let i = 0; i < cells; i++) {
        if (taskLabels[i] === 0) continue;
        if (batch.keyMask[i] !== 0) {
          throw new Error(`task "${task.name}" has label ${taskLabels[i]} at padding position ${i % batch.length} of sequence ${Math.floor(i / batch.length)}`);
        }
        labelled[i] = 1;
      }
    }

    const positions: number[] = [];
    for (let i = 0; i < cells; i++) if (labelled[i] === 1) positions.push(i);
    const picked: TaskLabels = {};
    for (const task of this.config.tasks) {
      const taskLabels = labels[task.name]!;
      picked[task.name] = Int32Array.from(positions, (i) => taskLabels[i]!);
    }
    return { positions: Int32Array.from(positions), labels: picked };
  }

  private validateLabels(labels: TaskLabels, batchSize: number): void {
    for (const task of this.config.tasks) {
      const taskLabels = labels[task.name];
      if (taskLabels === undefined) throw new Error(`labels for task "${task.name}" are missing`);
      if (taskLabels.length !== batchSize) {
        throw new Error(`labels for task "${task.name}" have ${taskLabels.length} entries but batchSize is ${batchSize}`);
      }
      validateLabelRange(task, taskLabels);
    }
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('this CustomerModel is disposed');
  }
}

function validateLabelRange(task: TaskConfig, labels: Int32Array): void {
  for (let b = 0; b < labels.length; b++) {
    const label = labels[b]!;
    if (label < 0 || label >= task.vocabularySize) {
      throw new Error(`label ${label} of task "${task.name}" at row ${b} is outside its vocabulary of ${task.vocabularySize}`);
    }
  }
}
