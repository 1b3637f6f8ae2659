import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@mcm/model';
import { AdamW } from '../src/optimizer/adamw.ts';
import { learningRateAt, validateSchedule } from '../src/optimizer/learning-rate-schedule.ts';
import { useCpuBackend } from './helpers/backend.ts';

beforeAll(useCpuBackend);

describe('AdamW', () => {
  it('matches a hand-computed update', () => {
    const matrix = tf.variable(tf.tensor2d([[1, -2]]), true, 'adamw-test-matrix');
    const bias = tf.variable(tf.tensor1d([0.5]), true, 'adamw-test-bias');
    const optimizer = new AdamW(new Map<string, tf.Variable>([['matrix', matrix], ['bias', bias]]), { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1 });
    const lr = 0.1;

    const gradients = new Map<string, tf.Tensor>([['matrix', tf.tensor2d([[0.2, -0.4]])], ['bias', tf.tensor1d([1])]]);
    optimizer.apply(gradients, lr);
    optimizer.apply(gradients, lr);

    // Two identical gradients: m-hat = g and v-hat = g^2 after bias correction, so each
    // step moves by lr * sign(g) (up to epsilon), plus decay on the matrix only.
    const expectedMatrix = [1, -2].map((w, i) => {
      const g = [0.2, -0.4][i]!;
      let value = w;
      for (let t = 0; t < 2; t++) value = value - lr * Math.sign(g) - lr * 0.1 * value;
      return value;
    });
    expect(Array.from(matrix.dataSync())[0]).toBeCloseTo(expectedMatrix[0]!, 5);
    expect(Array.from(matrix.dataSync())[1]).toBeCloseTo(expectedMatrix[1]!, 5);
    expect(bias.dataSync()[0]).toBeCloseTo(0.5 - 2 * lr, 5);
    expect(optimizer.step).toBe(2);

    for (const gradient of gradients.values()) gradient.dispose();
    optimizer.dispose();
    matrix.dispose();
    bias.dispose();
  });

  it('restores its state exactly', () => {
    const make = (name: string) => tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, name);
    const first = make('adamw-state-a');
    const second = make('adamw-state-b');
    const config = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };
    const a = new AdamW(new Map([['w', first]]), config);
    const b = new AdamW(new Map([['w', second]]), config);
    const gradient = tf.tensor2d([[0.1, -0.3], [0.7, 0.05]]);

    a.apply(new Map([['w', gradient]]), 0.01);
    b.setState(a.getState());
    second.assign(first);
    a.apply(new Map([['w', gradient]]), 0.01);
    b.apply(new Map([['w', gradient]]), 0.01);
    expect(Array.from(second.dataSync())).toEqual(Array.from(first.dataSync()));

    gradient.dispose();
    a.dispose();
    b.dispose();
    first.dispose();
    second.dispose();
  });

  it('updates alike on wasm and cpu', async () => {
    // Three clipped steps on each backend; wasm runs the fused AdamUpdate kernel.
    const run = async (backend: 'wasm' | 'cpu') => {
      if (backend === 'wasm') await initBackend('wasm');
      else await tf.setBackend('cpu');
      const matrix = tf.variable(tf.tensor2d([[0.3, -1.2, 2], [0.7, 0.1, -0.4]]), true, `adamw-${backend}-matrix`);
      const bias = tf.variable(tf.tensor1d([0.5, -0.5, 0]), true, `adamw-${backend}-bias`);
      const optimizer = new AdamW(new Map<string, tf.Variable>([['matrix', matrix], ['bias', bias]]), { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.05 });
      for (let step = 1; step <= 3; step++) {
        const gradients = new Map<string, tf.Tensor>([
          ['matrix', tf.tensor2d([[0.2 * step, -0.4, 0.01], [1, -1, 0.5 / step]])],
          ['bias', tf.tensor1d([1, -0.1 * step, 0])],
        ]);
        optimizer.apply(gradients, 0.01 * step, 0.5);
        for (const gradient of gradients.values()) gradient.dispose();
      }
      const values = [...matrix.dataSync(), ...bias.dataSync(), ...optimizer.getState().moments.matrix!.v];
      optimizer.dispose();
      tf.dispose([matrix, bias]);
      return values;
    };

    const onWasm = await run('wasm');
    const onCpu = await run('cpu');
    expect(onWasm).toHaveLength(onCpu.length);
    onCpu.forEach((expected, i) => expect(onWasm[i], `value ${i}`).toBeCloseTo(expected, 6));
  });

  it('rejects invalid settings', () => {
    const variable = tf.variable(tf.zeros([1]), true, 'adamw-invalid');
    expect(() => new AdamW(new Map([['v', variable]]), { beta1: 1, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 })).toThrow(/beta1 must be in \[0, 1\), got 1/);
    variable.dispose();
  });
});

describe('learning-rate schedule', () => {
  it('warms up linearly, then stays constant', () => {
    const schedule = { peak: 1, warmupSteps: 4, decay: 'constant' as const, minRatio: 0.1 };
    expect([0, 1, 2, 3, 4, 100].map((step) => learningRateAt(step, schedule))).toEqual([0.25, 0.5, 0.75, 1, 1, 1]);
  });

  it('decays by a cosine to the floor', () => {
    const schedule = { peak: 1, warmupSteps: 0, decay: 'cosine' as const, maxSteps: 100, minRatio: 0.1 };
    expect(learningRateAt(0, schedule)).toBeCloseTo(1, 12);
    expect(learningRateAt(50, schedule)).toBeCloseTo(0.55, 12);
    expect(learningRateAt(100, schedule)).toBeCloseTo(0.1, 12);
    expect(learningRateAt(500, schedule)).toBeCloseTo(0.1, 12);
  });

  it('decays linearly to the floor', () => {
    const schedule = { peak: 2, warmupSteps: 10, decay: 'linear' as const, maxSteps: 110, minRatio: 0 };
    expect(learningRateAt(60, schedule)).toBeCloseTo(1, 12);
    expect(learningRateAt(110, schedule)).toBeCloseTo(0, 12);
  });

  it('requires a step budget for decay', () => {
    expect(() => validateSchedule({ peak: 1, warmupSteps: 0, decay: 'cosine', minRatio: 0 })).toThrow(/cosine decay needs a step budget: pass --max-steps/);
  });
});
