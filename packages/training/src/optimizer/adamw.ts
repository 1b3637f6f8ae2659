import * as tf from '@tensorflow/tfjs-core';
import { adamUpdate } from '@mcm/model';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay per step, scaled by the learning rate. */
  weightDecay: number;
}

/** The optimizer's full state as plain arrays, for checkpoints. */
export interface AdamWState {
  /** Number of updates applied so far. */
  step: number;
  /** Variable name -> first and second moment estimates, in the variable's shape. */
  moments: Record<string, { shape: number[]; m: Float32Array; v: Float32Array }>;
}

/**
 * AdamW (Adam with decoupled weight decay, Loshchilov and Hutter 2019) over named
 * variables. Each update computes, with t the update count:
 *
 *   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
 *   w = w - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon) - lr weightDecay w
 *
 * Weight decay applies to variables of rank 2 and more (matrices, embeddings), not to
 * biases and normalisation gains, the usual practice for transformers.
 */
export class AdamW {
  private readonly variables: ReadonlyMap<string, tf.Variable>;
  private readonly config: AdamWConfig;
  private readonly first = new Map<string, tf.Variable>();
  private readonly second = new Map<string, tf.Variable>();
  private updates = 0;

  constructor(variables: ReadonlyMap<string, tf.Variable>, config: AdamWConfig) {
    validateConfig(config);
    this.variables = variables;
    this.config = config;
    for (const [name, variable] of variables) {
      this.first.set(name, tf.tidy(() => tf.variable(tf.zerosLike(variable), false)));
      this.second.set(name, tf.tidy(() => tf.variable(tf.zerosLike(variable), false)));
    }
  }

  /** Number of updates applied so far. */
  get step(): number {
    return this.updates;
  }

  /**
   * Applies one update. `gradients` maps variable names to gradients; a variable
   * without a gradient (not used by the loss) is left unchanged, moments included.
   * `gradientScale` multiplies every gradient first (global-norm clipping).
   */
  apply(gradients: ReadonlyMap<string, tf.Tensor>, learningRate: number, gradientScale = 1): void {
    const { beta1, beta2, epsilon, weightDecay } = this.config;
    const t = this.updates + 1;

    // adamUpdate is one kernel per variable on wasm (about a dozen when composed of tfjs ops),
    // which writes over the variable and its moments because they are assigned its results.
    tf.tidy(() => {
      for (const [name, gradient] of gradients) {
        const variable = this.variables.get(name);
        if (variable === undefined) throw new Error(`gradient for unknown variable "${name}"`);
        const m = this.first.get(name)!;
        const v = this.second.get(name)!;
        const g = gradientScale === 1 ? gradient : tf.mul(gradient, gradientScale);

        const decay = variable.rank >= 2 ? weightDecay : 0;
        const settings = { learningRate, beta1, beta2, epsilon, weightDecay: decay, step: t, inPlace: true };
        const [next, nextM, nextV] = adamUpdate(variable, g, m, v, settings);
        m.assign(nextM);
        v.assign(nextV);
        variable.assign(next);
      }
    });
    this.updates = t;
  }

  getState(): AdamWState {
    const moments: AdamWState['moments'] = {};
    for (const [name, m] of this.first) {
      moments[name] = {
        shape: m.shape.slice(),
        m: m.dataSync() as Float32Array,
        v: this.second.get(name)!.dataSync() as Float32Array,
      };
    }
    return { step: this.updates, moments };
  }

  setState(state: AdamWState): void {
    for (const name of this.first.keys()) {
      if (state.moments[name] === undefined) {
        throw new Error(`optimizer state has no moments for variable "${name}"; the checkpoint belongs to another model configuration`);
      }
    }
    for (const [name, saved] of Object.entries(state.moments)) {
      const m = this.first.get(name);
      if (m === undefined) throw new Error(`optimizer state names variable "${name}", which the model does not have`);
      if (saved.shape.join('x') !== m.shape.join('x')) {
        throw new Error(`optimizer state of "${name}" has shape [${saved.shape}], the variable [${m.shape}]`);
      }
      tf.tidy(() => {
        m.assign(tf.tensor(saved.m, saved.shape, 'float32'));
        this.second.get(name)!.assign(tf.tensor(saved.v, saved.shape, 'float32'));
      });
    }
    this.updates = state.step;
  }

  /** Frees the moment variables; safe to call twice. */
  dispose(): void {
    for (const variable of [...this.first.values(), ...this.second.values()]) if (!variable.isDisposed) variable.dispose();
  }
}

function validateConfig(config: AdamWConfig): void {
  if (!(config.beta1 >= 0 && config.beta1 < 1)) throw new Error(`beta1 must be in [0, 1), got ${config.beta1}`);
  if (!(config.beta2 >= 0 && config.beta2 < 1)) throw new Error(`beta2 must be in [0, 1), got ${config.beta2}`);
  if (!(config.epsilon > 0)) throw new Error(`epsilon must be > 0, got ${config.epsilon}`);
  if (!(config.weightDecay >= 0)) throw new Error(`weight decay must be >= 0, got ${config.weightDecay}`);
}
