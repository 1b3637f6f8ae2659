import type { TrainerOptions } from '../../src/trainer.ts';

/** Trainer options for small test runs; `overrides` replaces any field. */
export function testTrainerOptions(runDir: string, overrides: Partial<TrainerOptions> = {}): TrainerOptions {
  return {
    runDir,
    modelName: 'test',
    modelConfig: { test: true },
    features: ['category', 'brand'],
    vocabularySizes: { category: 22, brand: 9 },
    maxLength: 10,
    sampler: 'random-prefix',
    batchSize: 16,
    bucketBatches: 2,
    seed: 1,
    taskWeights: { category: 1, brand: 1 },
    schedule: { peak: 0.01, warmupSteps: 2, decay: 'constant', minRatio: 0.1 },
    adamw: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 },
    clipNorm: 1,
    budgetMinutes: 10,
    maxSteps: 10,
    evalEvery: 5,
    patience: 3,
    evalMaxExamples: 100,
    evalBatchSize: 32,
    evalTargets: 'first',
    resume: false,
    ...overrides,
  };
}
