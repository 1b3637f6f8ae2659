import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CustomerModel, type ModelWeights } from '../src/customer-model.ts';
import { decodeModel, exportOnnxModel, ONNX_OPSET, onnxEmbeddingFeeds, onnxInputSpecs, onnxScoreFeeds } from '../src/onnx/index.ts';
import { buildSequenceBatch, randomHistories, tinyConfig, useCpuBackend } from './helpers.ts';

beforeAll(useCpuBackend);

describe('ONNX export', () => {
  const config = tinyConfig({ readout: 'last-position', attention: 'causal' });
  const model = CustomerModel.create(config, 5);
  const weights = model.getWeights();
  afterAll(() => model.dispose());

  test('declares opset and model config', () => {
    const exported = decodeModel(exportOnnxModel(config, weights, { metadata: { 'mcm.step': '12' } }));
    expect(exported.irVersion).toBe(8);
    expect(exported.opsetImport).toEqual([{ domain: '', version: ONNX_OPSET }]);
    const metadata = Object.fromEntries(exported.metadataProps.map((entry) => [entry.key, entry.value]));
    expect(JSON.parse(metadata['mcm.modelConfig']!)).toEqual(config);
    expect(metadata['mcm.step']).toBe('12');
  });

  test('inputs and outputs', () => {
    const graph = decodeModel(exportOnnxModel(config, weights)).graph;
    expect(graph.input.map((input) => input.name)).toEqual([
      'ids/item',
      'weights/item',
      'ids/brand',
      'weights/brand',
      'ids/tags',
      'weights/tags',
      'position_ids',
      'key_mask',
      'mean_weights',
      'last_indices',
    ]);
    expect(graph.output.map((output) => output.name)).toEqual(['scores/item', 'scores/brand', 'embedding']);
    const itemScores = graph.output[0]!.type.tensorType.shape.dim;
    expect(itemScores).toEqual([{ dimParam: 'batch' }, { dimValue: 13 }]);
  });

  test('attentional readout needs no last index', () => {
    const attentional = tinyConfig({ readout: 'attentional' });
    expect(onnxInputSpecs(attentional).map((spec) => spec.name)).not.toContain('last_indices');
  });

  test('stores each weight once', () => {
    const graph = decodeModel(exportOnnxModel(config, weights)).graph;
    const names = graph.initializer.map((tensor) => tensor.name);
    for (const name of Object.keys(weights)) expect(names.filter((candidate) => candidate === name)).toHaveLength(1);

    // The item table is the item embedding and the item task's candidates (tied weights).
    const table = graph.initializer.find((tensor) => tensor.name === 'embedding/item')!;
    expect(table.dims).toEqual([13, 8]);
    expect(new Float32Array(new Uint8Array(table.rawData).buffer)).toEqual(weights['embedding/item']!.values);
    const readers = graph.node.filter((node) => node.input.includes('embedding/item'));
    expect(readers.map((node) => node.opType).sort()).toEqual(['Gather', 'MatMul']);
  });

  test('uses only standard operators', () => {
    const graph = decodeModel(exportOnnxModel(config, weights)).graph;
    const operators = new Set(graph.node.map((node) => node.opType));
    expect([...operators].sort()).toEqual(
      ['Add', 'Concat', 'Erf', 'Gather', 'Identity', 'LayerNormalization', 'MatMul', 'Mul', 'ReduceSum', 'Reshape', 'Shape', 'Slice', 'Softmax', 'Transpose', 'Unsqueeze', 'Sum'].sort(),
    );
  });

  test('rejects a missing weight', () => {
    const { ['block1/ffn/outer/bias']: _dropped, ...partial } = weights;
    expect(() => exportOnnxModel(config, partial as ModelWeights)).toThrow(/weight "block1\/ffn\/outer\/bias" is missing from the checkpoint/);
  });

  test('rejects an unknown weight', () => {
    const extra: ModelWeights = { ...weights, 'block9/attention/query/kernel': { shape: [8, 8], values: new Float32Array(64) } };
    expect(() => exportOnnxModel(config, extra)).toThrow(/does not use the weights "block9\/attention\/query\/kernel"/);
  });

  test('rejects a weight of another shape', () => {
    const reshaped: ModelWeights = { ...weights, 'embedding/position': { shape: [6, 16], values: weights['embedding/position']!.values } };
    expect(() => exportOnnxModel(config, reshaped)).toThrow(/weight "embedding\/position" has shape \[6, 16\] but the ONNX graph expects \[12, 8\]/);
  });
});

describe('ONNX feeds', () => {
  test('come from prepareBatch', () => {
    const config = tinyConfig({ readout: 'last-position' });
    const batch = buildSequenceBatch(config, randomHistories(config, 3, 9), { length: 10 });
    const feeds = onnxScoreFeeds(config, batch);

    expect(feeds['ids/tags']!.dims).toEqual([3, 10, batch.features.tags!.width]);
    expect(feeds['ids/tags']!.data).toBe(batch.features.tags!.ids);
    const keyMask = feeds['key_mask']!.data;
    for (let b = 0; b < 3; b++) {
      for (let t = 0; t < 10; t++) expect(keyMask[b * 10 + t]).toBe(t < batch.lengths[b]! ? 0 : -1e9);
    }
    expect(Array.from(feeds['last_indices']!.data)).toEqual([0, 1, 2].map((b) => b * 10 + batch.lengths[b]! - 1));
  });

  test('append the mask event for masked inference', () => {
    const config = tinyConfig({ readout: 'last-position', maskToken: true, maskedInference: true });
    const batch = buildSequenceBatch(config, [[{ item: 3, brand: 2, tags: [1] }]]);
    const scoreFeeds = onnxScoreFeeds(config, batch);
    const embeddingFeeds = onnxEmbeddingFeeds(config, batch);

    // The score feeds read the history plus one event of mask tokens (id = vocabularySize).
    expect(Array.from(scoreFeeds['ids/item']!.data)).toEqual([3, 13]);
    expect(Array.from(scoreFeeds['last_indices']!.data)).toEqual([1]);
    // The embedding reads the history alone, as CustomerModel.embed does.
    expect(Array.from(embeddingFeeds['ids/item']!.data)).toEqual([3]);
  });
});
