import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ModelOptions } from '../src/config.ts';
import { CustomerModel } from '../src/customer-model.ts';
import type { SequenceBatch } from '../src/sequence-batch.ts';
import { buildSequenceBatch, maxAbsDifference, randomHistories, tinyConfig, useCpuBackend } from './helpers.ts';

beforeAll(useCpuBackend);

interface Outputs {
  item: Float32Array;
  brand: Float32Array;
  embedding: Float32Array;
}

function outputs(model: CustomerModel, batch: SequenceBatch): Outputs {
  const read = (t: tf.Tensor) => {
    const values = t.dataSync() as Float32Array;
    t.dispose();
    return values;
  };
  return {
    item: read(model.scores(batch, 'item')),
    brand: read(model.scores(batch, 'brand')),
    embedding: read(model.embed(batch)),
  };
}

const variants: Partial<ModelOptions>[] = [
  { readout: 'attentional', attention: 'bidirectional' },
  { readout: 'attentional', attention: 'causal' },
  { readout: 'last-position', attention: 'bidirectional' },
  { readout: 'last-position', attention: 'causal' },
  { readout: 'attentional', attention: 'bidirectional', normalization: 'pre', positions: 'from-first' },
];

describe.each(variants)('padding with %o', (options) => {
  const config = tinyConfig(options);
  const model = CustomerModel.create(config, 11);
  const histories = randomHistories(config, 5, 23);
  const longest = Math.max(...histories.map((events) => events.length));
  afterAll(() => model.dispose());

  test('outputs unchanged by 7 more padding positions', () => {
    const tight = outputs(model, buildSequenceBatch(config, histories, { length: longest }));
    const padded = outputs(model, buildSequenceBatch(config, histories, { length: longest + 7 }));

    expect(maxAbsDifference(tight.item, padded.item)).toBeLessThan(1e-5);
    expect(maxAbsDifference(tight.brand, padded.brand)).toBeLessThan(1e-5);
    expect(maxAbsDifference(tight.embedding, padded.embedding)).toBeLessThan(1e-5);
  });

  test('outputs unchanged by ids at padding positions', () => {
    const clean = outputs(model, buildSequenceBatch(config, histories, { length: longest + 3 }));
    const dirty = outputs(model, buildSequenceBatch(config, histories, { length: longest + 3, paddingId: 4 }));

    expect(maxAbsDifference(clean.item, dirty.item)).toBeLessThan(1e-6);
    expect(maxAbsDifference(clean.brand, dirty.brand)).toBeLessThan(1e-6);
    expect(maxAbsDifference(clean.embedding, dirty.embedding)).toBeLessThan(1e-6);
  });

  test('outputs unchanged by wider multi-valued slots', () => {
    const narrow = outputs(model, buildSequenceBatch(config, histories, { length: longest }));
    const wide = outputs(model, buildSequenceBatch(config, histories, { length: longest, width: 4 }));

    expect(maxAbsDifference(narrow.item, wide.item)).toBeLessThan(1e-5);
    expect(maxAbsDifference(narrow.embedding, wide.embedding)).toBeLessThan(1e-5);
  });
});

test('padding does not change training losses', () => {
  const config = tinyConfig();
  const model = CustomerModel.create(config, 5);
  const histories = randomHistories(config, 4, 9);
  const labels = { item: Int32Array.from([2, 1, 0, 12]), brand: Int32Array.from([3, 6, 2, 1]) };
  const loss = (length: number) =>
    tf.tidy(() => {
      const losses = model.taskLosses(buildSequenceBatch(config, histories, { length }), labels, { training: false });
      return [losses.item!.dataSync()[0]!, losses.brand!.dataSync()[0]!];
    });

  const longest = Math.max(...histories.map((events) => events.length));
  const [tightItem, tightBrand] = loss(longest);
  const [paddedItem, paddedBrand] = loss(longest + 7);

  expect(Math.abs(tightItem! - paddedItem!)).toBeLessThan(1e-5);
  expect(Math.abs(tightBrand! - paddedBrand!)).toBeLessThan(1e-5);
  model.dispose();
});
