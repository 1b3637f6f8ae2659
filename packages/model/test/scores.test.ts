import { beforeAll, describe, expect, test } from 'vitest';
import { CustomerModel } from '../src/customer-model.ts';
import { buildSequenceBatch, maxAbsDifference, randomHistories, tinyConfig, useCpuBackend } from './helpers.ts';

beforeAll(useCpuBackend);

describe.each(['attentional', 'last-position'] as const)('%s scores', (readout) => {
  const config = tinyConfig({ readout });
  const batch = buildSequenceBatch(config, randomHistories(config, 4, 51));

  function scores(model: CustomerModel, task: string, chunkSize?: number): Float32Array {
    const tensor = model.scores(batch, task, chunkSize === undefined ? {} : { chunkSize });
    expect(tensor.shape).toEqual([4, config.tasks.find((t) => t.name === task)!.vocabularySize]);
    const values = tensor.dataSync() as Float32Array;
    tensor.dispose();
    return values;
  }

  test('chunked scores equal unchunked scores', () => {
    const model = CustomerModel.create(config, 12);
    const whole = scores(model, 'item');
    for (const chunkSize of [1, 3, 10, 11, 100]) {
      expect(maxAbsDifference(scores(model, 'item', chunkSize), whole), `chunkSize ${chunkSize}`).toBeLessThan(1e-6);
    }
    model.dispose();
  });

  test('padding and out-of-vocabulary score -Infinity', () => {
    const model = CustomerModel.create(config, 12);
    const values = scores(model, 'brand');
    for (let b = 0; b < 4; b++) {
      expect(values[b * 7]).toBe(-Infinity);
      expect(values[b * 7 + 1]).toBe(-Infinity);
      for (let id = 2; id < 7; id++) expect(Number.isFinite(values[b * 7 + id]), `customer ${b}, id ${id}`).toBe(true);
    }
    model.dispose();
  });

  test('candidate scores equal the matching full scores', () => {
    const model = CustomerModel.create(config, 12);
    const whole = scores(model, 'item');
    const tensor = model.candidateScores(batch, 'item', Int32Array.from([12, 2, 7]));
    const picked = tensor.arraySync();
    tensor.dispose();

    picked.forEach((row, b) => {
      expect(row[0]).toBeCloseTo(whole[b * 13 + 12]!, 6);
      expect(row[1]).toBeCloseTo(whole[b * 13 + 2]!, 6);
      expect(row[2]).toBeCloseTo(whole[b * 13 + 7]!, 6);
    });
    model.dispose();
  });
});

test('scores reject an unknown task and a bad chunk size', () => {
  const config = tinyConfig();
  const model = CustomerModel.create(config, 1);
  const batch = buildSequenceBatch(config, randomHistories(config, 2, 1));

  expect(() => model.scores(batch, 'category')).toThrow('task "category" is not a task of this model (item, brand)');
  expect(() => model.scores(batch, 'item', { chunkSize: 0 })).toThrow('chunkSize 0 must be a positive integer');
  model.dispose();
});

test('embedding has one row per customer', () => {
  const config = tinyConfig();
  const model = CustomerModel.create(config, 1);
  const embedding = model.embed(buildSequenceBatch(config, randomHistories(config, 3, 1)));

  expect(embedding.shape).toEqual([3, config.hidden]);
  embedding.dispose();
  model.dispose();
});
