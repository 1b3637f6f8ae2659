import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createModelConfig, type ModelConfig, type ModelOptions } from '../src/config.ts';
import type { SequenceBatch } from '../src/sequence-batch.ts';

/** One event: feature name -> id (single-valued) or ids (multi-valued). */
export type TestEvent = Record<string, number | number[]>;

/** Selects the cpu backend, which every backend-agnostic test runs on. */
export async function useCpuBackend(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/**
 * A small three-feature model: item (13 ids), brand (7 ids), tags (multi-valued, 6 ids);
 * tasks: next item and next brand. Dropout is 0 so that outputs are deterministic.
 */
export function tinyConfig(options: Partial<ModelOptions> = {}): ModelConfig {
  return createModelConfig({
    features: [
      { name: 'item', kind: 'single', vocabularySize: 13 },
      { name: 'brand', kind: 'single', vocabularySize: 7 },
      { name: 'tags', kind: 'multi', vocabularySize: 6 },
    ],
    tasks: [
      { name: 'item', feature: 'item', vocabularySize: 13 },
      { name: 'brand', feature: 'brand', vocabularySize: 7 },
    ],
    maxLength: 12,
    hidden: 8,
    heads: 2,
    layers: 2,
    ffnWidth: 16,
    dropout: 0,
    // Larger than the default 0.02 so that scores differ by O(1) between candidates, and
    // a masking mistake shows far above float32 rounding.
    initStd: 0.3,
    ...options,
  });
}

/** Random histories for `config`'s features, with lengths 1..maxLength - 3, from a seeded LCG. */
export function randomHistories(config: ModelConfig, customers: number, seed: number): TestEvent[][] {
  let state = seed >>> 0;
  const next = (n: number) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % n;
  };
  const histories: TestEvent[][] = [];
  for (let c = 0; c < customers; c++) {
    const length = 1 + next(config.maxLength - 3);
    const events: TestEvent[] = [];
    for (let t = 0; t < length; t++) {
      const event: TestEvent = {};
      for (const feature of config.features) {
        // ids from 1 so that out-of-vocabulary appears; multi-valued lists of 0..2 values.
        if (feature.kind === 'single') event[feature.name] = 1 + next(feature.vocabularySize - 1);
        else event[feature.name] = Array.from({ length: next(3) }, () => 1 + next(feature.vocabularySize - 1));
      }
      events.push(event);
    }
    histories.push(events);
  }
  return histories;
}

/**
 * Builds a left-aligned batch padded to `length` (default: the longest history). Multi-valued
 * features get `width` slots (default: the longest list). `paddingId` fills padding positions
 * with that id instead of 0, to check that the model ignores them.
 */
export function buildSequenceBatch(
  config: ModelConfig,
  histories: TestEvent[][],
  options: { length?: number; width?: number; paddingId?: number } = {},
): SequenceBatch {
  const batchSize = histories.length;
  const length = options.length ?? Math.max(...histories.map((events) => events.length));
  const lengths = Int32Array.from(histories.map((events) => events.length));

  const features: SequenceBatch['features'] = {};
  for (const feature of config.features) {
    const longestList = Math.max(1, ...histories.flat().map((event) => listOf(event[feature.name]).length));
    const width = feature.kind === 'single' ? 1 : (options.width ?? longestList);
    const ids = new Int32Array(batchSize * length * width).fill(options.paddingId ?? 0);
    histories.forEach((events, b) => {
      for (let t = 0; t < length; t++) {
        const start = (b * length + t) * width;
        if (t >= events.length) continue;
        for (let s = 0; s < width; s++) ids[start + s] = 0;
        listOf(events[t]![feature.name]).forEach((id, s) => (ids[start + s] = id));
      }
    });
    features[feature.name] = { ids, width };
  }
  return { batchSize, length, lengths, features };
}

function listOf(value: number | number[] | undefined): number[] {
  if (value === undefined) return [];
  return typeof value === 'number' ? [value] : value;
}

/** Largest absolute difference between two equally shaped arrays; Infinity on a shape mismatch. */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue; // also equal infinities
    max = Math.max(max, Math.abs(a[i]! - b[i]!));
  }
  return max;
}
