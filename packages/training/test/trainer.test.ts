import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { silentLogger } from './helpers/silent-logger.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomerModel, modelConfigFromManifest } from '@mcm/model';
import { readCheckpointMeta } from '../src/checkpoint/checkpoint.ts';
import { NonFiniteLossError } from '../src/train-step.ts';
import { checkpointDir, train } from '../src/trainer.ts';
import { useCpuBackend } from './helpers/backend.ts';
import { fixtureData, PLANTED_VOCABULARIES, plantedPatternCustomers } from './helpers/dataset-fixture.ts';
import { StandInModel } from './helpers/stand-in-model.ts';
import { testTrainerOptions } from './helpers/trainer-options.ts';

const logger = silentLogger();
const directories: string[] = [];

async function runDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mcm-trainer-'));
  directories.push(dir);
  return dir;
}

function readSteps(runDir: string): Promise<Array<{ step: number; loss: number; taskLosses: Record<string, number> }>> {
  return readFile(join(runDir, 'steps.jsonl'), 'utf8').then((text) =>
    text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line)),
  );
}

beforeAll(useCpuBackend);
afterAll(async () => {
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
});

const data = fixtureData(plantedPatternCustomers(120, 11), PLANTED_VOCABULARIES, 2);

/** A real MCM model at a tiny size, with dropout on so that resuming must restore its generator. */
function tinyModel(): CustomerModel {
  const config = modelConfigFromManifest(data.manifest, { maxLength: 10, hidden: 16, layers: 1, heads: 2, ffnWidth: 32, dropout: 0.1 });
  return CustomerModel.create(config, 1);
}

describe('train', () => {
  it('writes steps, validations and checkpoints', async () => {
    const runDir = await runDirectory();
    const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
    const outcome = await train(model, data, testTrainerOptions(runDir, { maxSteps: 12 }), logger);

    expect(outcome.steps).toBe(12);
    expect(outcome.stopReason).toBe('max-steps');
    const steps = await readSteps(runDir);
    expect(steps.map((line) => line.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(Object.keys(steps[0]!.taskLosses).sort()).toEqual(['brand', 'category']);
    const validations = (await readFile(join(runDir, 'validation.jsonl'), 'utf8')).trim().split('\n');
    expect(validations.map((line) => JSON.parse(line).step)).toEqual([5, 10, 12]);

    const last = await readCheckpointMeta(checkpointDir(runDir), 'last');
    expect(last?.step).toBe(12);
    expect(last?.manifestFingerprint).toBe('fixture');
    expect(last?.optimizerStep).toBe(12);
    const files = (await readdir(checkpointDir(runDir))).sort();
    expect(files.filter((file) => file.startsWith('last'))).toEqual(['last-00000012.bin', 'last.json']);
    expect(files).toContain('best.json');
    model.dispose();
  });

  it('keeps the tensor count flat across a run', async () => {
    const model = tinyModel();
    const before = tf.memory().numTensors;
    await train(model, data, testTrainerOptions(await runDirectory(), { maxSteps: 15 }), logger);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('resumes with the same next loss as an uninterrupted run', async () => {
    const uninterruptedDir = await runDirectory();
    const uninterrupted = tinyModel();
    await train(uninterrupted, data, testTrainerOptions(uninterruptedDir, { maxSteps: 9, evalEvery: 100 }), logger);
    uninterrupted.dispose();

    const resumedDir = await runDirectory();
    const first = tinyModel();
    await train(first, data, testTrainerOptions(resumedDir, { maxSteps: 6, evalEvery: 100 }), logger);
    first.dispose();
    const second = tinyModel();
    await train(second, data, testTrainerOptions(resumedDir, { maxSteps: 9, evalEvery: 100, resume: true }), logger);
    second.dispose();

    const expected = await readSteps(uninterruptedDir);
    const actual = await readSteps(resumedDir);
    expect(actual.map((line) => line.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (let i = 6; i < 9; i++) {
      expect(Math.abs(actual[i]!.loss - expected[i]!.loss), `step ${i + 1}`).toBeLessThanOrEqual(1e-6);
      for (const task of ['category', 'brand']) {
        expect(Math.abs(actual[i]!.taskLosses[task]! - expected[i]!.taskLosses[task]!), `step ${i + 1} ${task}`).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it('drops log lines past the checkpoint on resume', async () => {
    const runDir = await runDirectory();
    const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
    await train(model, data, testTrainerOptions(runDir, { maxSteps: 5 }), logger);
    // A run killed after step 7 leaves lines the checkpoint (step 5) does not cover.
    const { appendFile } = await import('node:fs/promises');
    await appendFile(join(runDir, 'steps.jsonl'), '{"step":6,"loss":1}\n{"step":7,"loss":1}\n');
    await train(model, data, testTrainerOptions(runDir, { maxSteps: 6, resume: true }), logger);
    expect((await readSteps(runDir)).map((line) => line.step)).toEqual([1, 2, 3, 4, 5, 6]);
    model.dispose();
  });

  it('stops on a non-finite loss and keeps the last good checkpoint', async () => {
    const runDir = await runDirectory();
    const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
    await train(model, data, testTrainerOptions(runDir, { maxSteps: 5 }), logger);
    const good = await readCheckpointMeta(checkpointDir(runDir), 'last');

    model.poisonTask = 'category';
    const error = await train(model, data, testTrainerOptions(runDir, { maxSteps: 10, resume: true }), logger).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect((error as NonFiniteLossError).step).toBe(6);
    expect((error as NonFiniteLossError).customerIds.length).toBe(16);
    expect((error as Error).message).toMatch(/loss is not finite at step 6 .*the batch's customers: c\d{5}/);

    const after = await readCheckpointMeta(checkpointDir(runDir), 'last');
    expect(after?.step).toBe(5);
    expect(after?.tensorsSha256).toBe(good?.tensorsSha256);
    model.dispose();
  });

  it('names the fix when the wasm heap runs out', async () => {
    const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
    const outOfMemory = () => {
      const error = new Error('memory access out of bounds');
      error.name = 'RuntimeError';
      throw error;
    };
    await expect(train(model, data, testTrainerOptions(await runDirectory()), logger, outOfMemory)).rejects.toThrow(
      /step 1 failed on the wasm backend \(memory access out of bounds\) with a batch of 16 histories padded to \d+ events.*lower --customers-per-batch or --max-length/,
    );
    model.dispose();
  });

  it('rejects resuming on other data', async () => {
    const runDir = await runDirectory();
    const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
    await train(model, data, testTrainerOptions(runDir, { maxSteps: 2 }), logger);
    const other = fixtureData(plantedPatternCustomers(120, 11), PLANTED_VOCABULARIES, 2, 'other-fingerprint');
    await expect(train(model, other, testTrainerOptions(runDir, { maxSteps: 4, resume: true }), logger)).rejects.toThrow(
      /trained on data with fingerprint fixture, but fixture has fingerprint other-fingerprint; pass the same --data/,
    );
    model.dispose();
  });

  it('rejects a run directory that holds a checkpoint without --resume', async () => {
    const runDir = await runDirectory();
    const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
    await train(model, data, testTrainerOptions(runDir, { maxSteps: 2 }), logger);
    await expect(train(model, data, testTrainerOptions(runDir, { maxSteps: 2 }), logger)).rejects.toThrow(/already contains a checkpoint \(step 2\); pass --resume/);
    await expect(train(model, data, testTrainerOptions(await runDirectory(), { resume: true }), logger)).rejects.toThrow(/--resume: no last checkpoint/);
    model.dispose();
  });

  it('stops early when validation stops improving', async () => {
    const runDir = await runDirectory();
    const model = new StandInModel(PLANTED_VOCABULARIES, PLANTED_VOCABULARIES, 8, 1);
    // A learning rate of 1e-9 leaves the weights (and the validation NDCG) as they are.
    const outcome = await train(
      model,
      data,
      testTrainerOptions(runDir, { maxSteps: 1000, evalEvery: 2, patience: 2, schedule: { peak: 1e-9, warmupSteps: 0, decay: 'constant', minRatio: 0 } }),
      logger,
    );
    expect(outcome.stopReason).toBe('early-stopping');
    expect(outcome.steps).toBe(6);
    expect(outcome.progress.bestStep).toBe(2);
    expect(existsSync(join(checkpointDir(runDir), 'best.json'))).toBe(true);
    model.dispose();
  });
});
