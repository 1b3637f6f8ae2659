import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from './helpers/silent-logger.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomerModel, initBackend, modelConfigFromManifest } from '@mcm/model';
import { popularityScorer } from '../src/baselines/popularity.ts';
import { loadCheckpoint } from '../src/checkpoint/checkpoint.ts';
import { evaluateScorer } from '../src/evaluation/evaluate.ts';
import { buildEvaluationSet } from '../src/evaluation/evaluation-examples.ts';
import { modelScorer } from '../src/evaluation/scorer.ts';
import { checkpointDir, train } from '../src/trainer.ts';
import { fixtureData, PLANTED_VOCABULARIES, plantedPatternCustomers } from './helpers/dataset-fixture.ts';
import { testTrainerOptions } from './helpers/trainer-options.ts';

const directories: string[] = [];
// wasm is the fastest backend every machine can load; the engine's tests compare it with cpu.
beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(async () => {
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
});

describe('planted pattern', () => {
  it('is learned far above popularity', async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'mcm-planted-'));
    directories.push(runDir);
    const data = fixtureData(plantedPatternCustomers(600, 21), PLANTED_VOCABULARIES, 2);
    const config = modelConfigFromManifest(data.manifest, { maxLength: 8, hidden: 32, layers: 1, heads: 2, ffnWidth: 64, dropout: 0 });
    const model = CustomerModel.create(config, 3);
    const start = performance.now();
    const outcome = await train(
      model,
      data,
      testTrainerOptions(runDir, {
        maxLength: 8,
        batchSize: 32,
        maxSteps: 200,
        budgetMinutes: 1,
        evalEvery: 100,
        patience: 10,
        schedule: { peak: 0.01, warmupSteps: 20, decay: 'constant', minRatio: 0.1 },
      }),
      silentLogger(),
    );
    const seconds = (performance.now() - start) / 1000;

    const best = await loadCheckpoint(checkpointDir(runDir), outcome.selectedCheckpoint);
    model.setWeights(best.weights);
    const test = buildEvaluationSet(data, 'test', 'first', 8);
    const options = { features: ['category', 'brand'], tasks: ['category', 'brand'], vocabularySizes: PLANTED_VOCABULARIES, ks: [10], batchSize: 64 };
    const learned = evaluateScorer(modelScorer('mcm', model), test.examples, options);
    const popularity = evaluateScorer(popularityScorer(data, ['category', 'brand']), test.examples, options);
    model.dispose();

    const context = `${outcome.steps} steps in ${seconds.toFixed(1)} s, ${JSON.stringify({ learned, popularity })}`;
    expect(test.examples.length).toBe(600);
    expect(learned.category!['ndcg@10'], context).toBeGreaterThanOrEqual(2 * popularity.category!['ndcg@10']!);
    expect(learned.category!['ndcg@10'], context).toBeGreaterThan(0.6);
    expect(learned.brand!['ndcg@10'], context).toBeGreaterThan(popularity.brand!['ndcg@10']!);
  });
});
