/**
 * Training and evaluation defaults in one place, each with its reason. The CLI shows
 * these values in `--help`; every one can be overridden there.
 *
 * The method leaves the optimizer, learning rate, batch size and schedule open, so these
 * are our choices for a small encoder (hidden 64, 3 blocks) trained on a CPU.
 */
export const TRAINING_DEFAULTS = {
  /** Customers per batch. Larger batches did not raise sequences/s on the wasm backend. */
  batchSize: 64,
  /** Peak learning rate of AdamW: the usual value for small transformers trained from scratch. */
  learningRate: 1e-3,
  /** Decoupled weight decay of AdamW, applied to matrices and embeddings but not to biases and norm gains. */
  weightDecay: 0.01,
  /** Adam's moment decay rates and epsilon: the common transformer settings. */
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  /** Steps of linear warm-up from 0 to the peak rate; keeps early Adam steps from blowing up attention. */
  warmupSteps: 100,
  /**
   * Shape of the rate after warm-up. `constant` works with a time budget, whose number
   * of steps is not known in advance; `cosine` and `linear` need `maxSteps`.
   */
  decay: 'constant' as LearningRateDecay,
  /** Fraction of the peak rate that cosine and linear decay end at. */
  minLearningRateRatio: 0.1,
  /**
   * Largest rows x length^2 of one forward and backward pass; a batch above it is cut into
   * micro-batches whose gradients are summed. Self-attention keeps rows x heads x length^2
   * scores per block: 64 histories of 291 events exhausted the wasm backend's 4 GiB heap,
   * while 2^20 cells (64 rows up to length 128, 12 rows at length 291) stayed well inside it.
   */
  maxBatchCells: 1_048_576,
  /**
   * Share of a history's events that the Cloze sampler masks (at least one per history).
   * 0.2 is BERT4Rec's setting for MovieLens-1M; it used 0.4 to 0.6 on short-session data.
   */
  maskProbability: 0.2,
  /** Global gradient-norm limit: rescales the rare large step instead of letting it ruin the weights. */
  clipNorm: 1.0,
  /** Seed of weights, dropout, shuffles and prefixes: a fixed value makes a run reproducible. */
  seed: 1,
  /** Minutes of training in this invocation; enough for a usable model on the bundled datasets. */
  budgetMinutes: 30,
  /** Steps between two validation evaluations, which also write the `last` checkpoint. */
  evalEvery: 200,
  /** Evaluations without a better validation NDCG@10 before training stops early. */
  patience: 5,
  /**
   * Validation examples scored at each periodic evaluation, drawn once with the seed.
   * Scoring every example of a large dataset every few hundred steps would dominate
   * training time; the final evaluation always scores all of them.
   */
  evalMaxExamples: 2000,
  /** Examples scored per forward pass during evaluation. */
  evalBatchSize: 64,
  /**
   * Batches whose examples are sorted by history length together. Batches of similar
   * lengths need less padding and so run faster. 0 turns bucketing off.
   */
  bucketBatches: 8,
  /** Cut-offs of the ranking metrics. NDCG@10 is the primary metric of the method. */
  ks: [10] as number[],
  /** Choice of the validation or test events that become evaluation targets (docs/evaluation.md). */
  evalTargets: 'first' as EvaluationTargets,
  /**
   * Whether evaluation leaves out the values a customer has already seen. Off, because
   * customers buy the same category and brand again, so a repeat is a correct prediction. The MovieLens
   * benchmarks turn it on, since nobody rates a movie twice.
   */
  excludeSeen: false,
};

export type LearningRateDecay = 'constant' | 'cosine' | 'linear';

/**
 * `first`: each customer's first event of the split is the one target. `all`: every
 * event of the split is a target, each with all earlier events as its history.
 */
export type EvaluationTargets = 'first' | 'all';

/** The cut-off of the metric that drives early stopping and the `best` checkpoint. */
export const PRIMARY_K = 10;
