import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { beforeAll, expect, test } from 'vitest';
import { createModelConfig, type ModelConfig } from '../src/config.ts';
import { CustomerModel } from '../src/customer-model.ts';
import type { SequenceBatch, TaskLabels } from '../src/sequence-batch.ts';
import { buildSequenceBatch, useCpuBackend, type TestEvent } from './helpers.ts';

beforeAll(useCpuBackend);

const VOCABULARY = 12; // ids 2..11 are real items

/** Returns the planted next item: the one after `last`, cyclically over 2..11. */
function nextItem(last: number): number {
  return 2 + ((last - 2 + 1) % (VOCABULARY - 2));
}

/** `customers` random histories of 2..7 items, labelled with the planted next item. */
function plantedBatch(config: ModelConfig, random: Random, customers: number): { batch: SequenceBatch; labels: TaskLabels } {
  const histories: TestEvent[][] = Array.from({ length: customers }, () =>
    Array.from({ length: 2 + random.int(6) }, () => ({ item: 2 + random.int(VOCABULARY - 2) })),
  );
  const labels = { item: Int32Array.from(histories, (events) => nextItem(events.at(-1)!.item as number)) };
  return { batch: buildSequenceBatch(config, histories), labels };
}

test.each(['attentional', 'last-position'] as const)('%s model learns a planted next-item rule', (readout) => {
  const config = createModelConfig({
    features: [{ name: 'item', kind: 'single', vocabularySize: VOCABULARY }],
    tasks: [{ name: 'item', feature: 'item', vocabularySize: VOCABULARY }],
    maxLength: 8,
    hidden: 16,
    heads: 2,
    layers: 1,
    ffnWidth: 32,
    dropout: 0,
    readout,
  });
  const random = new Random(17);
  const model = CustomerModel.create(config, 4);
  const variables = [...model.variables.values()];
  const optimizer = tf.train.adam(0.02);

  // A fresh batch every step, so the loss can only fall by learning the pattern.
  const losses: number[] = [];
  for (let step = 0; step < 40; step++) {
    const { batch, labels } = plantedBatch(config, random, 32);
    const cost = optimizer.minimize(() => model.taskLosses(batch, labels, { training: true, random }).item!, true, variables)!;
    losses.push(cost.dataSync()[0]!);
    cost.dispose();
  }
  const heldOut = plantedBatch(config, random, 64);
  const heldOutLoss = tf.tidy(() => model.taskLosses(heldOut.batch, heldOut.labels, { training: false }).item!.dataSync()[0]!);

  const chance = Math.log(VOCABULARY - 1);
  expect(losses[0]).toBeGreaterThan(0.8 * chance);
  expect(heldOutLoss).toBeLessThan(0.25 * chance);
  optimizer.dispose();
  model.dispose();
});
