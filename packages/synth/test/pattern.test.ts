import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measurePlantedPattern, readCustomerSequences, readGeneratorOutput, type PlantedPatternMeasurement } from '../src/index.ts';
import { generateSample, type Sample } from './sample.ts';

async function measure(sample: Sample): Promise<PlantedPatternMeasurement> {
  const { catalog } = await readGeneratorOutput(sample.dir);
  return measurePlantedPattern(await readCustomerSequences(sample.dir, catalog), catalog);
}

describe('planted complement pattern', () => {
  let planted: Sample;
  let unplanted: Sample;
  let measured: PlantedPatternMeasurement;
  let measuredWithout: PlantedPatternMeasurement;

  beforeAll(async () => {
    planted = await generateSample(20_000, { seed: 1 });
    unplanted = await generateSample(5_000, { seed: 1, complementProbability: 0 });
    measured = await measure(planted);
    measuredWithout = await measure(unplanted);
  });

  afterAll(async () => {
    await Promise.all([planted?.remove(), unplanted?.remove()]);
  });

  it('appears at the predicted rate', () => {
    const predicted = planted.summary.prediction;

    // About 2000 triggers: the binomial standard error of the share is about 0.011.
    expect(measured.triggersWithNext).toBeGreaterThan(1_500);
    expect(Math.abs(measured.complementNextShare - predicted.complementNextShare)).toBeLessThan(0.04);
  });

  it('oracle margin matches the prediction', () => {
    const predicted = planted.summary.prediction;

    expect(Math.abs(measured.oracleNdcgAtTrigger - predicted.oracleNdcgAtTrigger)).toBeLessThan(0.05);
    expect(Math.abs(measured.popularityNdcgAtTrigger - predicted.popularityNdcgAtTrigger)).toBeLessThan(0.03);
    expect(Math.abs(measured.marginAtTrigger - predicted.marginAtTrigger)).toBeLessThan(0.05);
    expect(measured.marginAtTrigger).toBeGreaterThan(0.3);
  });

  it('trigger share matches the estimate', () => {
    const predicted = planted.summary.prediction;
    expect(measured.triggerShare / predicted.triggerShare).toBeGreaterThan(0.8);
    expect(measured.triggerShare / predicted.triggerShare).toBeLessThan(1.2);
  });

  it('vanishes with complementProbability 0', () => {
    const predicted = unplanted.summary.prediction;

    expect(predicted.plantedNextShare).toBe(0);
    expect(measuredWithout.complementNextShare).toBeLessThan(0.15);
    expect(Math.abs(measuredWithout.complementNextShare - predicted.complementNextShare)).toBeLessThan(0.05);
  });
});
