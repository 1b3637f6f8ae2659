import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainingData } from '@mcm/training';
import {
  ACTION_COUNT,
  generateOffers,
  historyOf,
  historySignals,
  readEventTypeIds,
  readOfferData,
  splitOf,
  writeOfferData,
  type EventTypeIds,
  type OfferData,
} from '../src/index.ts';
import { syntheticData } from './helpers/synthetic-data.ts';

let root: string;
let data: TrainingData;
let offers: OfferData;
let types: EventTypeIds;

beforeAll(async () => {
  ({ root, data } = await syntheticData(300, 5));
  offers = await generateOffers(data, { offers: 6000, seed: 3 });
  types = await readEventTypeIds(data);
});

afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

function historyFor(customerId: string, historyLength: number) {
  const record = data.customers.find((candidate) => candidate.id === customerId)!;
  return historyOf(data, record, historyLength);
}

describe('offer generator', () => {
  it('defines 28 named actions', () => {
    expect(offers.summary.actions.length).toBe(ACTION_COUNT);
    expect(new Set(offers.summary.actions.map((action) => action.name)).size).toBe(ACTION_COUNT);
    expect(offers.summary.actions.map((action) => action.index)).toEqual(Array.from({ length: ACTION_COUNT }, (_, i) => i));
    expect(offers.summary.actions.filter((action) => action.kind === 'first-purchase-product-line').length).toBeGreaterThan(10);
  });

  it('is deterministic for a seed', async () => {
    const again = await generateOffers(data, { offers: 6000, seed: 3 });
    expect(again.records).toEqual(offers.records);
    const other = await generateOffers(data, { offers: 6000, seed: 4 });
    expect(other.records).not.toEqual(offers.records);
  });

  it('counts offers and conversions', () => {
    const { counts } = offers.summary;
    expect(counts.offers).toBe(6000);
    expect(counts.converted).toBe(offers.records.filter((record) => record.converted !== null).length);
    expect(counts.byAction.reduce((sum, count) => sum + count, 0)).toBe(counts.converted);
    expect(counts.converted / counts.offers).toBeGreaterThan(0.3);
    expect(counts.converted / counts.offers).toBeLessThan(0.9);
  });

  it('keeps each customer in one part', () => {
    const parts = new Map<string, string>();
    for (const record of offers.records) {
      expect(parts.get(record.customerId) ?? record.split).toBe(record.split);
      parts.set(record.customerId, record.split);
      expect(record.split).toBe(splitOf(record.customerId));
    }
    expect(new Set(parts.values())).toEqual(new Set(['train', 'validation', 'test']));
  });

  it('converts only on eligible actions', () => {
    for (const record of offers.records) {
      if (record.converted === null) continue;
      const action = offers.summary.actions[record.converted]!;
      const signals = historySignals(historyFor(record.customerId, record.historyLength), types);
      if (action.kind === 'first-purchase-product-line') expect(signals.purchasedProductLines.has(action.value!)).toBe(false);
      if (action.kind === 'first-purchase-category') expect(signals.purchasedCategories.has(action.value!)).toBe(false);
      if (action.kind === 'try-camera-search') expect(signals.hasType.has(types.camera_search)).toBe(false);
      if (action.kind === 'complete-cart') expect(signals.eventsSinceOpenCart).not.toBeNull();
    }
  });

  it('follows recent browsing interest', () => {
    // A product line that dominates the recent browsing should win far more often than one never browsed.
    let interested = 0;
    let interestedConverted = 0;
    let uninterested = 0;
    let uninterestedConverted = 0;
    for (const record of offers.records) {
      const signals = historySignals(historyFor(record.customerId, record.historyLength), types);
      for (const action of offers.summary.actions) {
        if (action.kind !== 'first-purchase-product-line' || signals.purchasedProductLines.has(action.value!)) continue;
        const interest = signals.productLineInterest.get(action.value!) ?? 0;
        const converted = record.converted === action.index ? 1 : 0;
        if (interest > 0.5) {
          interested++;
          interestedConverted += converted;
        } else if (interest === 0) {
          uninterested++;
          uninterestedConverted += converted;
        }
      }
    }
    expect(interested).toBeGreaterThan(100);
    expect(interestedConverted / interested).toBeGreaterThan(10 * (uninterestedConverted / uninterested));
  });

  it('writes and reads the files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcm-offers-'));
    try {
      await writeOfferData(dir, offers);
      const read = await readOfferData(dir);
      expect(read.records).toEqual(offers.records);
      expect(read.summary.manifestFingerprint).toBe(data.manifest.fingerprint);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the fix for a missing directory', async () => {
    await expect(readOfferData(join(root, 'nothing-here'))).rejects.toThrow(/offers\.json not found: pass the --out directory of "nx run trainer:finetune-offers"/);
  });
});
