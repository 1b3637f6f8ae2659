import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomerModel, initBackend, modelConfigFromManifest } from '@mcm/model';
import type { TrainingData } from '@mcm/training';
import { BoostedTrees, buildActionExamples, conversionMetrics, generateOffers, runComparison, type OfferData } from '../src/index.ts';
import { silentLogger, syntheticData } from './helpers/synthetic-data.ts';

let root: string;
let data: TrainingData;
let offers: OfferData;

beforeAll(async () => {
  await initBackend('wasm');
  ({ root, data } = await syntheticData(200, 9));
  offers = await generateOffers(data, { offers: 1500, seed: 2 });
});

afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe('conversionMetrics', () => {
  it('ranks the converted action', () => {
    // Two offers over three actions: the first converted on the best-scored action, the second on the worst.
    const scores = Float32Array.from([3, 1, 2, 0, 5, 9]);
    const metrics = conversionMetrics(scores, [0, 0], 3);
    expect(metrics.examples).toBe(2);
    expect(metrics['recall@3']).toBe(1);
    expect(metrics['ndcg@10']).toBeCloseTo((1 + 1 / Math.log2(4)) / 2, 6);
    expect(metrics['mrr@10']).toBeCloseTo((1 + 1 / 3) / 2, 6);
  });
});

describe('BoostedTrees', () => {
  it('learns a threshold rule', () => {
    const rows: number[][] = [];
    const labels: number[] = [];
    for (let i = 0; i < 600; i++) {
      const x = (i * 37) % 100;
      const noise = (i * 53) % 7;
      rows.push([x, noise]);
      let label = 2;
      if (x < 70) label = 1;
      if (x < 30) label = 0;
      labels.push(label);
    }
    const trees = new BoostedTrees(3, 1, { rounds: 20, learningRate: 0.3, maxDepth: 2, lambda: 1, minChildHessian: 1, featureShare: 1, bins: 32 });
    trees.train(rows, labels);
    const scores = trees.scores([[10, 3], [50, 3], [90, 3]]);
    const best = (r: number) => [0, 1, 2].reduce((a, b) => (scores[r * 3 + b]! > scores[r * 3 + a]! ? b : a), 0);
    expect([best(0), best(1), best(2)]).toEqual([0, 1, 2]);
  });

  it('is deterministic for a seed', () => {
    const rows = Array.from({ length: 200 }, (_, i) => [i % 13, (i * 7) % 11, i % 5]);
    const labels = rows.map((row) => (row[0]! + row[1]!) % 4);
    const options = { rounds: 5, learningRate: 0.1, maxDepth: 3, lambda: 1, minChildHessian: 1, featureShare: 0.5, bins: 16 };
    const first = new BoostedTrees(4, 7, options);
    const second = new BoostedTrees(4, 7, options);
    first.train(rows, labels);
    second.train(rows, labels);
    expect(first.scores(rows)).toEqual(second.scores(rows));
  });
});

describe('runComparison', () => {
  it('scores all three variants', async () => {
    const config = modelConfigFromManifest(data.manifest, { maxLength: 50, hidden: 16, layers: 1, heads: 2, ffnWidth: 32 });
    const model = CustomerModel.create(config, 1);
    try {
      const before = model.getWeights();
      const results = await runComparison({ model, data, offers, logger: silentLogger(), maxHistory: 20, headEpochs: 3, endToEndEpochs: 1, seed: 1 });
      const testExamples = buildActionExamples(data, offers, 'test', 20).length;

      expect(results.map((result) => result.variant)).toEqual(['gbdt', 'frozen', 'end-to-end']);
      for (const result of results) {
        expect(result.metrics.examples).toBe(testExamples);
        expect(result.metrics['ndcg@10']).toBeGreaterThan(0);
        expect(result.metrics['ndcg@10']).toBeLessThanOrEqual(1);
      }
      // Trees on the generator's signals beat a uniformly random ranking of 28 actions (expected NDCG@10 0.16).
      expect(results[0]!.metrics['ndcg@10']).toBeGreaterThan(0.3);

      const after = model.getWeights();
      const changed = Object.keys(before).some((name) => before[name]!.values.some((value, i) => value !== after[name]!.values[i]));
      expect(changed).toBe(results[2]!.detail.bestEpoch !== 0);
    } finally {
      model.dispose();
    }
  });
});
