import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random } from '@mcm/common';
import { maskTokenId } from '../src/config.ts';
import { CustomerModel } from '../src/customer-model.ts';
import { appendMaskEvent } from '../src/masked-inference.ts';
import { buildSequenceBatch, maxAbsDifference, randomHistories, tinyConfig, useCpuBackend, type TestEvent } from './helpers.ts';

beforeAll(useCpuBackend);

/** Per-task losses without dropout, as numbers. */
function losses(model: CustomerModel, ...args: Parameters<CustomerModel['taskLosses']>): Record<string, number> {
  return tf.tidy(() => Object.fromEntries(Object.entries(model.taskLosses(...args)).map(([task, loss]) => [task, loss.dataSync()[0]!])));
}

describe('per-position labels', () => {
  // Positions counted from the first event, so a prefix's positions keep their ids.
  const config = tinyConfig({ readout: 'last-position', attention: 'causal', positions: 'from-first' });

  it('equal the mean next-event loss of every prefix under causal attention', () => {
    const model = CustomerModel.create(config, 4);
    const histories = randomHistories(config, 5, 9).filter((events) => events.length >= 3);
    const batch = buildSequenceBatch(config, histories);

    // Position t of each history is labelled with the item and brand of event t + 1.
    const positionLabels = { item: new Int32Array(batch.batchSize * batch.length), brand: new Int32Array(batch.batchSize * batch.length) };
    const prefixes: TestEvent[][] = [];
    const nextItem: number[] = [];
    const nextBrand: number[] = [];
    histories.forEach((events, b) => {
      for (let t = 0; t + 1 < events.length; t++) {
        positionLabels.item[b * batch.length + t] = events[t + 1]!.item as number;
        positionLabels.brand[b * batch.length + t] = events[t + 1]!.brand as number;
        prefixes.push(events.slice(0, t + 1));
        nextItem.push(events[t + 1]!.item as number);
        nextBrand.push(events[t + 1]!.brand as number);
      }
    });

    const perPosition = losses(model, batch, positionLabels, { training: false, labelLayout: 'positions' });
    const perPrefix = losses(model, buildSequenceBatch(config, prefixes), { item: Int32Array.from(nextItem), brand: Int32Array.from(nextBrand) }, { training: false });
    expect(Math.abs(perPosition.item! - perPrefix.item!)).toBeLessThan(1e-5);
    expect(Math.abs(perPosition.brand! - perPrefix.brand!)).toBeLessThan(1e-5);
    model.dispose();
  });

  it('differ from the prefix losses when attention is bidirectional, because later events leak', () => {
    const leaky = { ...config, attention: 'bidirectional' as const };
    const model = CustomerModel.create(leaky, 4);
    const histories = randomHistories(leaky, 5, 9).filter((events) => events.length >= 3);
    const batch = buildSequenceBatch(leaky, histories);
    const labels = { item: new Int32Array(batch.batchSize * batch.length), brand: new Int32Array(batch.batchSize * batch.length) };
    const prefixes: TestEvent[][] = [];
    const next: number[] = [];
    histories.forEach((events, b) => {
      for (let t = 0; t + 1 < events.length; t++) {
        labels.item[b * batch.length + t] = events[t + 1]!.item as number;
        prefixes.push(events.slice(0, t + 1));
        next.push(events[t + 1]!.item as number);
      }
    });
    const perPosition = losses(model, batch, labels, { training: false, labelLayout: 'positions' });
    const perPrefix = losses(model, buildSequenceBatch(leaky, prefixes), { item: Int32Array.from(next), brand: new Int32Array(next.length) }, { training: false });
    expect(Math.abs(perPosition.item! - perPrefix.item!)).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it('train with sampling and dropout', () => {
    const model = CustomerModel.create({ ...config, sampledSoftmaxThreshold: 8, sampledNegatives: 4, dropout: 0.1 }, 4);
    const batch = buildSequenceBatch(config, randomHistories(config, 3, 2));
    const cells = batch.batchSize * batch.length;
    const none = losses(model, batch, { item: new Int32Array(cells), brand: new Int32Array(cells) }, { training: true, random: new Random(1), labelLayout: 'positions' });
    expect(none).toEqual({ item: 0, brand: 0 });

    const labels = { item: new Int32Array(cells), brand: new Int32Array(cells) };
    labels.item[0] = 5;
    labels.brand[0] = 3;
    const some = losses(model, batch, labels, { training: true, random: new Random(1), labelLayout: 'positions' });
    expect(some.item).toBeGreaterThan(0);
    expect(Number.isFinite(some.brand)).toBe(true);
    model.dispose();
  });

  it('reject a label at a padding position and an attentional readout', () => {
    const model = CustomerModel.create(config, 4);
    const batch = buildSequenceBatch(config, [[{ item: 3, brand: 2, tags: [] }], [{ item: 3, brand: 2, tags: [] }, { item: 4, brand: 2, tags: [] }]]);
    const labels = { item: new Int32Array(4), brand: new Int32Array(4) };
    labels.item[1] = 6; // sequence 0 has one event, so position 1 is padding
    expect(() => losses(model, batch, labels, { training: false, labelLayout: 'positions' })).toThrow(/padding position 1 of sequence 0/);
    model.dispose();

    const attentional = CustomerModel.create(tinyConfig({ readout: 'attentional' }), 4);
    expect(() => losses(attentional, batch, { item: new Int32Array(4), brand: new Int32Array(4) }, { training: false, labelLayout: 'positions' })).toThrow(
      /last-position readout/,
    );
    attentional.dispose();
  });
});

describe('masked inference', () => {
  const config = tinyConfig({ readout: 'last-position', maskToken: true, maskedInference: true });

  it('appends a mask event to every history', () => {
    const full = randomHistories(config, 1, 5)[0]!;
    while (full.length < config.maxLength) full.push({ item: 4, brand: 3, tags: [2] });
    const short: TestEvent[] = [{ item: 7, brand: 2, tags: [1, 3] }];
    const batch = buildSequenceBatch(config, [full, short]);

    const masked = appendMaskEvent(config, batch);
    expect(Array.from(masked.lengths)).toEqual([config.maxLength, 2]);
    expect(masked.length).toBe(config.maxLength);
    const items = masked.features.item!.ids;
    expect(items[0], 'the oldest event of the full history is gone').toBe(full[1]!.item);
    expect(items[config.maxLength - 1]).toBe(maskTokenId(config, 'item'));
    expect(items[config.maxLength + 0]).toBe(7);
    expect(items[config.maxLength + 1]).toBe(maskTokenId(config, 'item'));
    const tags = masked.features.tags!;
    expect(Array.from(tags.ids.subarray((config.maxLength + 1) * tags.width, (config.maxLength + 2) * tags.width))).toEqual([
      maskTokenId(config, 'tags'),
      ...new Array<number>(tags.width - 1).fill(0),
    ]);
  });

  it('scores at the appended mask event', () => {
    const model = CustomerModel.create(config, 6);
    const twin = CustomerModel.create({ ...config, maskedInference: false }, 6);
    const batch = buildSequenceBatch(config, randomHistories(config, 4, 8));

    const scores = tf.tidy(() => model.scores(batch, 'item').arraySync());
    const appended = tf.tidy(() => twin.scores(appendMaskEvent(config, batch), 'item').arraySync());
    const plain = tf.tidy(() => twin.scores(batch, 'item').arraySync());
    for (let b = 0; b < batch.batchSize; b++) {
      const finite = (row: number[]) => row.slice(2);
      expect(maxAbsDifference(finite(scores[b]!), finite(appended[b]!))).toBeLessThan(1e-5);
      expect(maxAbsDifference(finite(scores[b]!), finite(plain[b]!)), 'reading the last real event instead differs').toBeGreaterThan(1e-3);
    }
    model.dispose();
    twin.dispose();
  });

  it('needs the mask token and the last-position readout', () => {
    expect(() => tinyConfig({ readout: 'last-position', maskedInference: true })).toThrow(/maskedInference needs maskToken/);
    expect(() => tinyConfig({ readout: 'attentional', maskToken: true, maskedInference: true })).toThrow(/maskedInference needs maskToken/);
  });
});

describe('the binary loss', () => {
  it('matches a hand computation', () => {
    const config = tinyConfig({ readout: 'last-position', loss: 'binary' });
    const model = CustomerModel.create(config, 11);
    const batch = buildSequenceBatch(config, randomHistories(config, 4, 3));
    const labels = { item: Int32Array.from([5, 0, 9, 2]), brand: Int32Array.from([3, 4, 0, 6]) };

    const actual = losses(model, batch, labels, { training: true, random: new Random(42) });

    // Replays the draws: tasks in config order, one negative per row, labelled or not.
    const random = new Random(42);
    const expected: Record<string, number> = {};
    for (const task of config.tasks) {
      const values = task.vocabularySize - 2;
      const negatives = labels[task.name as 'item'].map((label) => {
        let negative = 2 + random.int(values);
        while (negative === label) negative = 2 + random.int(values);
        return negative;
      });
      const scores = tf.tidy(() => model.candidateScores(batch, task.name, Int32Array.from({ length: task.vocabularySize }, (_, i) => i)).arraySync());
      const logSigmoid = (x: number) => -Math.log1p(Math.exp(-x));
      let sum = 0;
      let count = 0;
      labels[task.name as 'item'].forEach((label, b) => {
        if (label === 0) return;
        sum += -logSigmoid(scores[b]![label]!) - logSigmoid(-scores[b]![negatives[b]!]!);
        count++;
      });
      expected[task.name] = sum / count;
    }
    expect(actual.item).toBeCloseTo(expected.item!, 5);
    expect(actual.brand).toBeCloseTo(expected.brand!, 5);
    model.dispose();
  });

  it('has gradients, so a training step runs', () => {
    const config = tinyConfig({ readout: 'last-position', loss: 'binary' });
    const model = CustomerModel.create(config, 11);
    const batch = buildSequenceBatch(config, randomHistories(config, 4, 3));
    const labels = { item: Int32Array.from([5, 0, 9, 2]), brand: Int32Array.from([3, 4, 0, 6]) };
    const variables = [...model.variables.values()];
    const { value, grads } = tf.variableGrads(() => tf.addN(Object.values(model.taskLosses(batch, labels, { training: true, random: new Random(1) }))) as tf.Scalar, variables);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    const table = grads[model.variables.get('embedding/item')!.name]!;
    expect(tf.tidy(() => tf.sum(tf.abs(table)).dataSync()[0]!)).toBeGreaterThan(0);
    value.dispose();
    for (const gradient of Object.values(grads)) gradient.dispose();
    model.dispose();
  });
});
