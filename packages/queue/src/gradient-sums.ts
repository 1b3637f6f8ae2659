import type * as tf from '@tensorflow/tfjs-core';
import { valuesView } from '@mcm/model';
import type { NamedArray } from './tensor-payload.ts';

/**
 * A worker's sum of gradients over the micro-batches of one job, in arrays that it keeps
 * from job to job. Each gradient is read in place and added into the same arrays, so a
 * step allocates nothing here. A copy of every gradient, as `dataSync()` makes on wasm,
 * would allocate the model's size outside the JS heap per step, which V8 counts towards
 * its next full garbage collection.
 */
export class GradientSums {
  private readonly arrays = new Map<string, NamedArray>();
  /** Names written since `clear`; the others hold an earlier job's values. */
  private readonly written = new Set<string>();

  /** Starts a new sum. */
  clear(): void {
    this.written.clear();
  }

  /** Adds `gradient` into the sum named `name`, or sets it when this is the first since `clear`. */
  add(name: string, gradient: tf.Tensor): void {
    let sum = this.arrays.get(name);
    if (sum === undefined || sum.values.length !== gradient.size || sum.shape.join('x') !== gradient.shape.join('x')) {
      sum = { shape: gradient.shape.slice(), values: new Float32Array(gradient.size) };
      this.arrays.set(name, sum);
    }

    const values = valuesView(gradient);
    if (this.written.has(name)) {
      for (let i = 0; i < values.length; i++) sum.values[i]! += values[i]!;
    } else {
      sum.values.set(values);
      this.written.add(name);
    }
  }

  /** Returns the sums written since `clear`, valid until the next `clear`. */
  current(): Map<string, NamedArray> {
    return new Map([...this.arrays].filter(([name]) => this.written.has(name)));
  }
}
