import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { loadNativeKernels } from '@mcm/native-kernels';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CustomerModel } from '../src/customer-model.ts';
import type { ModelConfig } from '../src/config.ts';
import { initBackend, registerWasmTrainingKernels } from '../src/engine/index.ts';
import type { SequenceBatch, TaskLabels } from '../src/sequence-batch.ts';
import { buildSequenceBatch, randomHistories, tinyConfig } from './helpers.ts';

// The layers run the engine's ops: on wasm its kernels (the native module's, or XNNPACK and
// JavaScript ones), on cpu the same formulas in tfjs ops, which sum float32 values in other
// orders. On this model the losses differed by at most 1.4e-7 relative, and each gradient
// by at most 1.3e-6 of its variable's largest entry, so the tolerances leave a margin of
// about 70 and 80.
const LOSS_TOLERANCE = 1e-5;
const GRADIENT_TOLERANCE = 1e-4;
// The key bias's gradient is zero in exact arithmetic (softmax ignores a constant added to a
// whole row of logits) and came out as rounding noise of up to 1.4e-8. Every other
// variable's largest gradient entry was 7e-3 or more.
const GRADIENT_FLOOR = 1e-6;

const load = loadNativeKernels();
const NATIVE_SETTINGS = [
  { native: true, label: load.kernels === undefined ? `native on (skipped: ${load.reason})` : 'native on', skip: load.kernels === undefined },
  { native: false, label: 'native off', skip: false },
];

const labels: TaskLabels = { item: Int32Array.from([3, 1, 0, 12, 7, 2]), brand: Int32Array.from([2, 6, 3, 4, 0, 1]) };

function batchFor(config: ModelConfig): SequenceBatch {
  // Length 12 pads every history (at most 9 events), so padding keys are masked.
  return buildSequenceBatch(config, randomHistories(config, 6, 83), { length: 12 });
}

beforeAll(async () => {
  await initBackend('wasm');
});

afterAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('cpu');
});

/** Each task's loss and every variable's gradient of their sum, read back from `backend`. */
interface StepValues {
  losses: Record<string, number>;
  gradients: Map<string, Float32Array>;
}

async function stepValues(backend: 'cpu' | 'wasm', config: ModelConfig, batch: SequenceBatch, seed: number): Promise<StepValues> {
  await tf.setBackend(backend);
  const model = CustomerModel.create(config, 5);
  const names = [...model.variables.keys()];
  const variables = [...model.variables.values()];
  try {
    const lossTensors = tf.tidy(() => model.taskLosses(batch, labels, { training: true, random: new Random(seed) }));
    const losses = Object.fromEntries(Object.entries(lossTensors).map(([task, loss]) => [task, loss.dataSync()[0]!]));
    tf.dispose(Object.values(lossTensors));

    const { value, grads } = tf.variableGrads(
      () => tf.addN(Object.values(model.taskLosses(batch, labels, { training: true, random: new Random(seed) }))) as tf.Scalar,
      variables,
    );
    const gradients = new Map(names.map((name, i) => [name, grads[variables[i]!.name]!.dataSync() as Float32Array]));
    tf.dispose([value, ...Object.values(grads)]);
    return { losses, gradients };
  } finally {
    model.dispose();
  }
}

function expectLossesClose(actual: Record<string, number>, expected: Record<string, number>, label: string): void {
  expect(Object.keys(actual).sort(), `${label}: tasks`).toEqual(Object.keys(expected).sort());
  for (const [task, loss] of Object.entries(expected)) {
    expect(Math.abs(actual[task]! - loss) / Math.abs(loss), `${label}: ${task} loss ${actual[task]} vs ${loss}`).toBeLessThanOrEqual(LOSS_TOLERANCE);
  }
}

/** Asserts |actual - expected| <= GRADIENT_TOLERANCE * max |expected| + GRADIENT_FLOOR, variable by variable. */
function expectGradientsClose(actual: Map<string, Float32Array>, expected: Map<string, Float32Array>, label: string): void {
  expect([...actual.keys()].sort(), `${label}: variables`).toEqual([...expected.keys()].sort());
  for (const [name, values] of expected) {
    const other = actual.get(name)!;
    let scale = 0;
    let difference = 0;
    for (let i = 0; i < values.length; i++) {
      scale = Math.max(scale, Math.abs(values[i]!));
      difference = Math.max(difference, Math.abs(other[i]! - values[i]!));
    }
    expect(difference, `${label}: gradient of ${name} (largest entry ${scale})`).toBeLessThanOrEqual(GRADIENT_TOLERANCE * scale + GRADIENT_FLOOR);
  }
}

const ATTENTION_CASES = [
  { label: 'bidirectional, post-LN', options: { attention: 'bidirectional', normalization: 'post' } },
  { label: 'causal, post-LN', options: { attention: 'causal', normalization: 'post' } },
  { label: 'causal, pre-LN', options: { attention: 'causal', normalization: 'pre' } },
] as const;

describe.each(NATIVE_SETTINGS)('model on wasm against cpu, $label', ({ native, skip }) => {
  beforeAll(() => registerWasmTrainingKernels({ nativeKernels: native }));

  for (const { label, options } of ATTENTION_CASES) {
    test.skipIf(skip)(`losses and gradients, ${label}`, async () => {
      const config = tinyConfig({ ...options, dropout: 0, attentionDropout: 0 });
      const batch = batchFor(config);

      const expected = await stepValues('cpu', config, batch, 1);
      const actual = await stepValues('wasm', config, batch, 1);
      expectLossesClose(actual.losses, expected.losses, label);
      expectGradientsClose(actual.gradients, expected.gradients, label);
    });
  }

  test.skipIf(skip)('same seed, same dropout', async () => {
    const config = tinyConfig({ attention: 'causal', dropout: 0.1, attentionDropout: 0.2 });
    const batch = batchFor(config);

    const first = await stepValues('wasm', config, batch, 7);
    const tensors = tf.memory().numTensors;
    const second = await stepValues('wasm', config, batch, 7);
    const otherSeed = await stepValues('wasm', config, batch, 8);
    expect(tf.memory().numTensors, 'tensor count').toBe(tensors);

    expect(second.losses, 'losses with the same seed').toEqual(first.losses);
    for (const [name, values] of first.gradients) expect(second.gradients.get(name), `gradient of ${name}`).toEqual(values);
    expect(otherSeed.losses.item, 'another seed drops other values').not.toBe(first.losses.item);

    // Dropout masks are drawn in JavaScript from the seed, so the cpu backend drops the same values.
    const onCpu = await stepValues('cpu', config, batch, 7);
    expectLossesClose(first.losses, onCpu.losses, 'cpu, same seed');
    expectGradientsClose(first.gradients, onCpu.gradients, 'cpu, same seed');
  });
});
