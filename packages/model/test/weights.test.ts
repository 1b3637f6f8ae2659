import type { Manifest } from '@mcm/schema';
import { beforeAll, describe, expect, test } from 'vitest';
import { createModelConfig, type ModelConfigInput } from '../src/config.ts';
import { modelConfigFromManifest } from '../src/config-from-manifest.ts';
import { CustomerModel } from '../src/customer-model.ts';
import { buildSequenceBatch, maxAbsDifference, randomHistories, tinyConfig, useCpuBackend } from './helpers.ts';

beforeAll(useCpuBackend);

describe('weights', () => {
  test('round-trip through getWeights and setWeights', () => {
    const config = tinyConfig();
    const source = CustomerModel.create(config, 1);
    const target = CustomerModel.create(config, 2);
    const batch = buildSequenceBatch(config, randomHistories(config, 3, 5));

    target.setWeights(source.getWeights());

    for (const [name, weight] of Object.entries(target.getWeights())) {
      expect(maxAbsDifference(weight.values, source.getWeights()[name]!.values), name).toBe(0);
    }
    const a = source.scores(batch, 'item');
    const b = target.scores(batch, 'item');
    expect(maxAbsDifference(a.dataSync(), b.dataSync())).toBe(0);
    a.dispose();
    b.dispose();
    source.dispose();
    target.dispose();
  });

  test('setWeights copies the arrays it is given', () => {
    // On the cpu backend a tensor keeps the array it is made from. A caller that reuses
    // its arrays (the distributed worker decodes every version into one buffer) must not
    // change the model's weights by doing so.
    const config = tinyConfig();
    const source = CustomerModel.create(config, 1);
    const target = CustomerModel.create(config, 2);
    const weights = source.getWeights();
    target.setWeights(weights);

    for (const weight of Object.values(weights)) weight.values.fill(7);
    for (const [name, weight] of Object.entries(target.getWeights())) {
      expect(maxAbsDifference(weight.values, source.getWeights()[name]!.values), name).toBe(0);
    }
    source.dispose();
    target.dispose();
  });

  test('same seed gives the same weights', () => {
    const first = CustomerModel.create(tinyConfig(), 9);
    const second = CustomerModel.create(tinyConfig(), 9);
    const other = CustomerModel.create(tinyConfig(), 10);

    const embedding = (model: CustomerModel) => model.getWeights()['embedding/item']!.values;
    expect(maxAbsDifference(embedding(first), embedding(second))).toBe(0);
    expect(maxAbsDifference(embedding(first), embedding(other))).toBeGreaterThan(0);
    for (const model of [first, second, other]) model.dispose();
  });

  test('variables have readable names', () => {
    const model = CustomerModel.create(tinyConfig({ layers: 1 }), 1);
    const names = [...model.variables.keys()];

    expect(names).toContain('embedding/item');
    expect(names).toContain('embedding/position');
    expect(names).toContain('embedding/norm/gamma');
    expect(names).toContain('block0/attention/query/kernel');
    expect(names).toContain('block0/ffn/outer/bias');
    expect(names).toContain('task/brand/projection');
    expect(names).toContain('task/brand/bias');
    expect(model.parameterCount).toBe([...model.variables.values()].reduce((sum, v) => sum + v.size, 0));
    model.dispose();
  });

  test('setWeights rejects a wrong shape, a missing and an unknown weight', () => {
    const model = CustomerModel.create(tinyConfig(), 1);
    const weights = model.getWeights();

    const wrongShape = { ...weights, 'embedding/brand': { shape: [8, 8], values: new Float32Array(64) } };
    expect(() => model.setWeights(wrongShape)).toThrow('weight "embedding/brand" has shape [8, 8] but the model expects [7, 8]');

    const missing = { ...weights };
    delete missing['block1/ffn/inner/kernel'];
    expect(() => model.setWeights(missing)).toThrow('weight "block1/ffn/inner/kernel" is missing');

    const unknown = { ...weights, 'block9/attention/query/kernel': { shape: [8, 8], values: new Float32Array(64) } };
    expect(() => model.setWeights(unknown)).toThrow('weight "block9/attention/query/kernel" is not a variable of this model');
    model.dispose();
  });

  test('two live models keep separate variables', () => {
    const first = CustomerModel.create(tinyConfig(), 1);
    const second = CustomerModel.create(tinyConfig(), 1);
    first.dispose();

    expect(second.getWeights()['embedding/item']!.values.length).toBe(13 * 8);
    expect(() => first.getWeights()).toThrow('this CustomerModel is disposed');
    second.dispose();
  });
});

describe('config', () => {
  const base: ModelConfigInput = {
    features: [{ name: 'item', kind: 'single', vocabularySize: 10 }],
    tasks: [{ name: 'item', feature: 'item', vocabularySize: 10 }],
    maxLength: 20,
  };

  test('defaults', () => {
    const config = createModelConfig(base);

    expect(config.hidden).toBe(64);
    expect(config.layers).toBe(3);
    expect(config.heads).toBe(4);
    expect(config.ffnWidth).toBe(256);
    expect(config.dropout).toBe(0.1);
    expect(config.readout).toBe('attentional');
    expect(config.attention).toBe('bidirectional');
    expect(config.sampledSoftmaxThreshold).toBe(1_024);
    expect(createModelConfig({ ...base, readout: 'last-position' }).sampledSoftmaxThreshold).toBe(50_000);
    expect(createModelConfig({ ...base, hidden: 32 }).ffnWidth).toBe(128);
  });

  test.each([
    [{ hidden: 63 }, 'hidden 63 must be divisible by heads 4'],
    [{ layers: 0 }, 'layers 0 must be an integer of at least 1'],
    [{ dropout: 1 }, 'dropout 1 must be in [0, 1)'],
    [{ readout: 'mean' }, 'readout "mean" is invalid; expected one of "attentional", "last-position"'],
    [{ maxLength: 0 }, 'maxLength 0 must be an integer of at least 1'],
    [{ sampledNegatives: 0 }, 'sampledNegatives 0 must be an integer of at least 1'],
    [{ initStd: 0 }, 'initStd 0 must be a positive number'],
    [{ features: [] }, 'features is empty: a model needs at least one input feature'],
    [{ tasks: [] }, 'tasks is empty: a model needs at least one task to train'],
    [
      { features: [{ name: 'item', kind: 'single', vocabularySize: 1 }] },
      'feature "item" vocabularySize 1 must be an integer of at least 2',
    ],
    [
      { tasks: [{ name: 'brand', feature: 'brand', vocabularySize: 10 }] },
      'task "brand" predicts feature "brand", which is not an input feature (item)',
    ],
    [
      { tasks: [{ name: 'item', feature: 'item', vocabularySize: 11 }] },
      'task "item" has vocabularySize 11 but its feature "item" has 10; they share one embedding table and must match',
    ],
  ])('%o is rejected', (override, message) => {
    expect(() => createModelConfig({ ...base, ...(override as Partial<ModelConfigInput>) })).toThrow(message);
  });

  test('CustomerModel.create validates the config', () => {
    const config = { ...createModelConfig(base), heads: 5 };
    expect(() => CustomerModel.create(config, 1)).toThrow('hidden 64 must be divisible by heads 5');
  });
});

describe('modelConfigFromManifest', () => {
  const manifest = {
    features: [
      { name: 'category', kind: 'single', vocabularySize: 40, task: true },
      { name: 'brand', kind: 'single', vocabularySize: 300, task: true },
      { name: 'event_type', kind: 'single', vocabularySize: 6, task: false },
      { name: 'genres', kind: 'multi', vocabularySize: 25, task: false },
    ],
    vocabularies: { category: 40, brand: 300, event_type: 6, genres: 25 },
    tasks: ['category', 'brand'],
    maxLength: 300,
  } as unknown as Manifest;

  test('takes features, tasks and maxLength from the manifest', () => {
    const config = modelConfigFromManifest(manifest, { hidden: 32 });

    expect(config.features.map((f) => f.name)).toEqual(['category', 'brand', 'event_type', 'genres']);
    expect(config.features[3]).toEqual({ name: 'genres', kind: 'multi', vocabularySize: 25 });
    expect(config.tasks).toEqual([
      { name: 'category', feature: 'category', vocabularySize: 40 },
      { name: 'brand', feature: 'brand', vocabularySize: 300 },
    ]);
    expect(config.maxLength).toBe(300);
    expect(config.hidden).toBe(32);
  });

  test('builds an item-only model from one feature', () => {
    const config = modelConfigFromManifest(manifest, { inputFeatures: ['brand'], tasks: ['brand'], maxLength: 50 });

    expect(config.features).toEqual([{ name: 'brand', kind: 'single', vocabularySize: 300 }]);
    expect(config.tasks.map((t) => t.name)).toEqual(['brand']);
    expect(config.maxLength).toBe(50);
  });

  test('rejects an unknown feature', () => {
    expect(() => modelConfigFromManifest(manifest, { inputFeatures: ['item'] })).toThrow(
      'input feature "item" is not in the manifest (category, brand, event_type, genres)',
    );
  });
});
