/** One categorical input feature of an event, embedded by its own table. */
export interface FeatureConfig {
  name: string;
  /** `multi`: each event carries a list of ids (padded with 0), mean-pooled into one vector. */
  kind: 'single' | 'multi';
  /** Number of ids, including padding (0) and out-of-vocabulary (1). */
  vocabularySize: number;
}

/**
 * One pre-training task: predict the next event's value of `feature`. The candidates are
 * the ids of that feature, and their embeddings are rows of the feature's input table
 * (tied weights), so the feature must be an input feature with the same vocabulary size.
 */
export interface TaskConfig {
  name: string;
  feature: string;
  vocabularySize: number;
}

/** Everything that fixes a model's architecture and training-time behaviour; plain JSON. */
export interface ModelConfig {
  /** Input features, averaged position by position. One feature gives an item-only model. */
  features: FeatureConfig[];
  /** Tasks, each scored by the readout against its feature's embedding table. */
  tasks: TaskConfig[];
  /** Maximum history length the model accepts; sizes the position table. */
  maxLength: number;
  /** Width of embeddings and hidden states. */
  hidden: number;
  /** Number of transformer blocks. */
  layers: number;
  /** Attention heads per block; `hidden` must be divisible by it. */
  heads: number;
  /** Inner width of each block's feed-forward network. */
  ffnWidth: number;
  /** Dropout rate on embeddings, attention outputs and feed-forward outputs, in training only. */
  dropout: number;
  /** Dropout rate on attention probabilities, in training only. */
  attentionDropout: number;
  /** `attentional`: each candidate attends over all positions. `last-position`: the most recent position only. */
  readout: 'attentional' | 'last-position';
  /** `bidirectional`: every position attends to every real position. `causal`: only to itself and earlier ones. */
  attention: 'bidirectional' | 'causal';
  /** Position of each block's layer normalisation relative to its residual connection. */
  normalization: 'post' | 'pre';
  /**
   * Numbering of positions for the position embedding. `from-last`: 0 is the most
   * recent event. `from-first`: 0 is the oldest event of the window. Both ignore padding.
   */
  positions: 'from-last' | 'from-first';
  /**
   * Training scores a task's full vocabulary when its size is at most this, otherwise the
   * positive plus `sampledNegatives` sampled candidates. Evaluation always scores everything.
   */
  sampledSoftmaxThreshold: number;
  /** Negatives drawn per task and batch (shared by the batch) when sampling. */
  sampledNegatives: number;
  /**
   * Training loss of each task. `softmax`: cross-entropy over the candidates (all of them,
   * or sampled ones above the threshold). `binary`: SASRec's original loss, a binary
   * cross-entropy of the positive against one uniformly drawn negative per target.
   */
  loss: 'softmax' | 'binary';
  /** Adds a per-task linear map (initialised to the identity) to the candidate embeddings. */
  candidateProjection: boolean;
  /** Adds a learned per-candidate bias to each task's scores. */
  candidateBias: boolean;
  /** Reserves one extra row (id = vocabularySize) in every table for a Cloze mask token; never a candidate. */
  maskToken: boolean;
  /**
   * At inference, appends one event made of mask tokens after the history and scores the
   * candidates at it, as a Cloze-trained model (BERT4Rec) predicts the next event. Needs
   * `maskToken` and the last-position readout. A history of maxLength events drops its
   * oldest event to make room.
   */
  maskedInference: boolean;
  /** Standard deviation of the truncated-normal initialisation of embeddings and kernels. */
  initStd: number;
}

/** The fields of `ModelConfig` that have defaults. */
export type ModelOptions = Omit<ModelConfig, 'features' | 'tasks' | 'maxLength'>;

/** Input of `createModelConfig`: the data-dependent fields plus any options to override. */
export type ModelConfigInput = Pick<ModelConfig, 'features' | 'tasks' | 'maxLength'> & Partial<ModelOptions>;

/**
 * Returns the defaults for everything except the data-dependent fields, given the
 * options that some defaults depend on (hidden size and readout).
 */
export function defaultModelOptions(chosen: Partial<ModelOptions> = {}): ModelOptions {
  const hidden = chosen.hidden ?? 64;
  const readout = chosen.readout ?? 'attentional';
  return {
    // 64 is BERT4Rec's width on its smaller datasets and keeps a CPU training step fast. The
    // method leaves the width open, so tune it on the validation split.
    hidden,
    // 3 blocks and 4 heads are the MCM paper's settings.
    layers: 3,
    heads: 4,
    // 4 x hidden is the transformer's usual feed-forward ratio (BERT, BERT4Rec).
    ffnWidth: 4 * hidden,
    // 0.1 is BERT's and BERT4Rec's rate.
    dropout: 0.1,
    // 0 because tfjs draws this mask on the CPU in JavaScript, and it has batch x heads x
    // length^2 entries per block (23M at batch 64, length 300). Set 0.1 to match BERT.
    attentionDropout: 0,
    readout,
    attention: 'bidirectional',
    // Post-LN is BERT4Rec's block, which the method keeps unchanged; with 3 blocks it
    // trains without the instability that makes deep post-LN stacks need warm-up.
    normalization: 'post',
    // Counting back from the most recent event gives "the last event" one fixed position,
    // as BERT4Rec's left padding does, whatever the history's length.
    positions: 'from-last',
    // The attentional readout builds [batch, candidates, length] tensors and costs
    // batch x length x hidden multiply-adds per candidate. A full softmax over 1,024
    // candidates at batch 64 and length 300 already takes 79 MB per such tensor and about
    // a quarter of a default encoder pass. The last-position readout costs batch x hidden
    // per candidate, so a full softmax stays cheap up to large vocabularies, and BERT4Rec
    // scores every item.
    sampledSoftmaxThreshold: readout === 'attentional' ? 1_024 : 50_000,
    // 256 shared negatives cost a quarter of the largest attentional full softmax.
    sampledNegatives: 256,
    loss: 'softmax',
    // The projection lets each task weigh the shared hidden space its own way; the identity
    // start means training begins from the method's plain dot product.
    candidateProjection: true,
    // A per-candidate bias learns popularity, as BERT4Rec's output bias does.
    candidateBias: true,
    maskToken: false,
    maskedInference: false,
    // 0.02 is BERT's and BERT4Rec's initialisation.
    initStd: 0.02,
    ...chosen,
  };
}

/** Fills the defaults into `input` and validates the result. */
export function createModelConfig(input: ModelConfigInput): ModelConfig {
  const { features, tasks, maxLength, ...chosen } = input;
  const config: ModelConfig = { features, tasks, maxLength, ...defaultModelOptions(chosen) };
  validateModelConfig(config);
  return config;
}

/** Throws an Error naming the first invalid field of `config`, its value and the rule it breaks. */
export function validateModelConfig(config: ModelConfig): void {
  validateFeatures(config.features);
  validateTasks(config);

  requireInteger('maxLength', config.maxLength, 1);
  requireInteger('hidden', config.hidden, 1);
  requireInteger('layers', config.layers, 1);
  requireInteger('heads', config.heads, 1);
  requireInteger('ffnWidth', config.ffnWidth, 1);
  if (config.hidden % config.heads !== 0) {
    throw new Error(`hidden ${config.hidden} must be divisible by heads ${config.heads}`);
  }

  requireRate('dropout', config.dropout);
  requireRate('attentionDropout', config.attentionDropout);

  requireOneOf('readout', config.readout, ['attentional', 'last-position']);
  requireOneOf('attention', config.attention, ['bidirectional', 'causal']);
  requireOneOf('normalization', config.normalization, ['post', 'pre']);
  requireOneOf('positions', config.positions, ['from-last', 'from-first']);

  requireInteger('sampledSoftmaxThreshold', config.sampledSoftmaxThreshold, 2);
  requireInteger('sampledNegatives', config.sampledNegatives, 1);
  requireOneOf('loss', config.loss, ['softmax', 'binary']);
  requireBoolean('candidateProjection', config.candidateProjection);
  requireBoolean('candidateBias', config.candidateBias);
  requireBoolean('maskToken', config.maskToken);
  requireBoolean('maskedInference', config.maskedInference);
  if (config.maskedInference && !(config.maskToken && config.readout === 'last-position')) {
    throw new Error(
      `maskedInference needs maskToken true and readout "last-position" (got maskToken ${config.maskToken}, readout "${config.readout}"): ` +
        'the appended mask event is read out at its own position',
    );
  }

  if (!(Number.isFinite(config.initStd) && config.initStd > 0)) {
    throw new Error(`initStd ${config.initStd} must be a positive number`);
  }
}

function validateFeatures(features: readonly FeatureConfig[]): void {
  if (!Array.isArray(features) || features.length === 0) {
    throw new Error('features is empty: a model needs at least one input feature');
  }
  const seen = new Set<string>();
  for (const feature of features) {
    if (typeof feature.name !== 'string' || feature.name === '') {
      throw new Error(`feature name ${JSON.stringify(feature.name)} must be a non-empty string`);
    }
    if (seen.has(feature.name)) throw new Error(`feature "${feature.name}" is listed twice`);
    seen.add(feature.name);
    requireOneOf(`feature "${feature.name}" kind`, feature.kind, ['single', 'multi']);
    requireInteger(`feature "${feature.name}" vocabularySize`, feature.vocabularySize, 2);
  }
}

function validateTasks(config: ModelConfig): void {
  if (!Array.isArray(config.tasks) || config.tasks.length === 0) {
    throw new Error('tasks is empty: a model needs at least one task to train');
  }
  const seen = new Set<string>();
  for (const task of config.tasks) {
    if (typeof task.name !== 'string' || task.name === '') {
      throw new Error(`task name ${JSON.stringify(task.name)} must be a non-empty string`);
    }
    if (seen.has(task.name)) throw new Error(`task "${task.name}" is listed twice`);
    seen.add(task.name);

    const feature = config.features.find((candidate) => candidate.name === task.feature);
    if (feature === undefined) {
      const names = config.features.map((candidate) => candidate.name).join(', ');
      throw new Error(
        `task "${task.name}" predicts feature "${task.feature}", which is not an input feature (${names}); ` +
          `a task's candidates are rows of its feature's embedding table, so add the feature to the input`,
      );
    }
    if (task.vocabularySize !== feature.vocabularySize) {
      throw new Error(
        `task "${task.name}" has vocabularySize ${task.vocabularySize} but its feature "${feature.name}" ` +
          `has ${feature.vocabularySize}; they share one embedding table and must match`,
      );
    }
  }
}

function requireInteger(name: string, value: number, minimum: number): void {
  if (!Number.isInteger(value) || value < minimum) {
    throw new Error(`${name} ${value} must be an integer of at least ${minimum}`);
  }
}

function requireRate(name: string, value: number): void {
  if (!(typeof value === 'number' && value >= 0 && value < 1)) {
    throw new Error(`${name} ${value} must be in [0, 1)`);
  }
}

function requireOneOf(name: string, value: string, allowed: readonly string[]): void {
  if (!allowed.includes(value)) {
    throw new Error(`${name} "${value}" is invalid; expected one of ${allowed.map((v) => `"${v}"`).join(', ')}`);
  }
}

function requireBoolean(name: string, value: boolean): void {
  if (typeof value !== 'boolean') throw new Error(`${name} ${JSON.stringify(value)} must be true or false`);
}

/** Rows of a feature's embedding table: its vocabulary, plus the mask token's row when reserved. */
export function tableRows(config: ModelConfig, feature: FeatureConfig): number {
  return feature.vocabularySize + (config.maskToken ? 1 : 0);
}

/** Returns the id of the Cloze mask token in `featureName`'s table; throws unless `config.maskToken` is set. */
export function maskTokenId(config: ModelConfig, featureName: string): number {
  if (!config.maskToken) throw new Error('maskToken is false: set maskToken to reserve a mask id in every table');
  const feature = config.features.find((candidate) => candidate.name === featureName);
  if (feature === undefined) throw new Error(`feature "${featureName}" is not an input feature of this model`);
  return feature.vocabularySize;
}
