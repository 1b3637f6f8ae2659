import * as tf from '@tensorflow/tfjs-core';
import type { Random } from '@mcm/common';

/** Counter that makes the tfjs-level names of two live models' variables distinct. */
let storesCreated = 0;

/**
 * The trainable variables of one model under readable names ("block0/attention/query/kernel"),
 * with their seeded initialisation.
 *
 * tfjs keeps one global registry of variable names, so each variable is registered as
 * "<store id>/<name>" and two models can live side by side. `variables` is keyed by the
 * readable name alone.
 */
export class ParameterStore {
  readonly variables = new Map<string, tf.Variable>();
  private readonly scope: string;

  constructor(private readonly random: Random) {
    storesCreated += 1;
    this.scope = `model${storesCreated}`;
  }

  /**
   * Creates a variable from a truncated normal (redrawn beyond 2 std), as BERT initialises.
   * `zeroFirstRow` leaves row 0 at zero: the padding row of an embedding table.
   */
  truncatedNormal(name: string, shape: number[], std: number, options: { zeroFirstRow?: boolean } = {}): tf.Variable {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const rowSize = values.length / shape[0]!;
    for (let i = options.zeroFirstRow === true ? rowSize : 0; i < values.length; i++) {
      let z = this.random.normal();
      while (Math.abs(z) > 2) z = this.random.normal();
      values[i] = z * std;
    }
    return this.add(name, shape, values);
  }

  /** Creates a variable filled with `value`. */
  constant(name: string, shape: number[], value: number): tf.Variable {
    return this.add(name, shape, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value));
  }

  /** Creates a [n, n] identity matrix variable. */
  identity(name: string, n: number): tf.Variable {
    const values = new Float32Array(n * n);
    for (let i = 0; i < n; i++) values[i * n + i] = 1;
    return this.add(name, [n, n], values);
  }

  /** Creates a variable from `values` (row-major). */
  add(name: string, shape: number[], values: Float32Array): tf.Variable {
    if (this.variables.has(name)) throw new Error(`variable "${name}" is created twice`);
    const variable = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true, `${this.scope}/${name}`));
    this.variables.set(name, variable);
    return variable;
  }
}
