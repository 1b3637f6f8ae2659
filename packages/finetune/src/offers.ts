import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Random, writeFileAtomic, writeJsonAtomic } from '@mcm/common';
import type { TrainingData } from '@mcm/training';
import { actionLogits, defineActions, historySignals, RESPONSE_MODEL, type OfferAction } from './actions.ts';
import { historyOf, readEventTypeIds } from './history.ts';

/** Part of the labelled data, assigned by customer so that no customer is in two parts. */
export type OfferSplit = 'train' | 'validation' | 'test';

/**
 * One offer: customer `customerId` was shown the actions after their first
 * `historyLength` ingested events and converted on `converted` (an action index), or on
 * nothing (null).
 */
export interface OfferRecord {
  customerId: string;
  historyLength: number;
  converted: number | null;
  split: OfferSplit;
}

/** `offers.json` of a labelled data directory: everything but the records. */
export interface OfferDataSummary {
  formatVersion: 1;
  /** Fingerprint of the ingest output the offers refer to. */
  manifestFingerprint: string;
  dataDir: string;
  seed: number;
  actions: OfferAction[];
  responseModel: typeof RESPONSE_MODEL;
  counts: { offers: number; converted: number; bySplit: Record<OfferSplit, { offers: number; converted: number }>; byAction: number[] };
}

export interface OfferData {
  summary: OfferDataSummary;
  records: OfferRecord[];
}

export const OFFER_DEFAULTS = {
  /** About the number of records of the MCM paper's fine-tuning task. */
  offers: 30_000,
  seed: 1,
  /** Offers need some history to respond to. */
  minHistory: 3,
  /** Shares of customers in the validation and test parts; the rest train. */
  validationShare: 0.1,
  testShare: 0.1,
} as const;

/**
 * Generates labelled offers for the customers of an ingested synthetic dataset. Each
 * offer picks a customer with at least `minHistory` events and a random point in their
 * history. The response is drawn from RESPONSE_MODEL, a softmax over "no conversion" and
 * every action the customer is eligible for. The logits depend on the events before
 * that point (see actions.ts). The same data and seed give the same offers.
 */
export async function generateOffers(data: TrainingData, options: { offers?: number; seed?: number } = {}): Promise<OfferData> {
  const offers = options.offers ?? OFFER_DEFAULTS.offers;
  const seed = options.seed ?? OFFER_DEFAULTS.seed;
  const types = await readEventTypeIds(data);
  const actions = await defineActions(data);
  const random = new Random(seed);

  const eligible = data.customers.filter((record) => record.end - record.start >= OFFER_DEFAULTS.minHistory);
  if (eligible.length === 0) throw new Error(`${data.dir} has no customer with ${OFFER_DEFAULTS.minHistory} or more events to make offers to`);

  const records: OfferRecord[] = [];
  for (let i = 0; i < offers; i++) {
    const record = eligible[random.int(eligible.length)]!;
    const events = record.end - record.start;
    const historyLength = OFFER_DEFAULTS.minHistory + random.int(events - OFFER_DEFAULTS.minHistory + 1);
    const history = historyOf(data, record, historyLength);
    const logits = actionLogits(actions, historySignals(history, types), types, historyLength);
    records.push({ customerId: record.id, historyLength, converted: drawResponse(logits, random), split: splitOf(record.id) });
  }

  const summary: OfferDataSummary = {
    formatVersion: 1,
    manifestFingerprint: data.manifest.fingerprint,
    dataDir: data.dir,
    seed,
    actions,
    responseModel: RESPONSE_MODEL,
    counts: countOffers(records, actions.length),
  };
  return { summary, records };
}

/** Draws "no conversion" (null) or an action index from the softmax over the eligible actions' logits. */
function drawResponse(logits: ReadonlyArray<number | null>, random: Random): number | null {
  const weights = logits.map((logit) => (logit === null ? 0 : Math.exp(logit)));
  const none = Math.exp(RESPONSE_MODEL.noConversion);
  let draw = random.next() * (none + weights.reduce((sum, weight) => sum + weight, 0));
  if (draw < none) return null;
  draw -= none;
  for (let a = 0; a < weights.length; a++) {
    if (draw < weights[a]!) return a;
    draw -= weights[a]!;
  }
  return weights.findLastIndex((weight) => weight > 0);
}

/** Assigns a customer to a part by the first bytes of the sha256 of its id. */
export function splitOf(customerId: string): OfferSplit {
  const unit = createHash('sha256').update(customerId).digest().readUInt32LE(0) / 2 ** 32;
  if (unit < OFFER_DEFAULTS.testShare) return 'test';
  if (unit < OFFER_DEFAULTS.testShare + OFFER_DEFAULTS.validationShare) return 'validation';
  return 'train';
}

function countOffers(records: readonly OfferRecord[], actionCount: number): OfferDataSummary['counts'] {
  const bySplit: OfferDataSummary['counts']['bySplit'] = {
    train: { offers: 0, converted: 0 },
    validation: { offers: 0, converted: 0 },
    test: { offers: 0, converted: 0 },
  };
  const byAction = new Array<number>(actionCount).fill(0);
  for (const record of records) {
    bySplit[record.split].offers++;
    if (record.converted === null) continue;
    bySplit[record.split].converted++;
    byAction[record.converted]!++;
  }
  return { offers: records.length, converted: records.filter((record) => record.converted !== null).length, bySplit, byAction };
}

/** Writes `offers.json` (summary) and `offers.jsonl` (one record per line) into `dir`. */
export async function writeOfferData(dir: string, offerData: OfferData): Promise<void> {
  await writeFileAtomic(join(dir, 'offers.jsonl'), offerData.records.map((record) => JSON.stringify(record)).join('\n') + '\n');
  await writeJsonAtomic(join(dir, 'offers.json'), offerData.summary);
}

/** Reads a directory written by writeOfferData. */
export async function readOfferData(dir: string): Promise<OfferData> {
  let summaryText: string;
  try {
    summaryText = await readFile(join(dir, 'offers.json'), 'utf8');
  } catch {
    throw new Error(`${join(dir, 'offers.json')} not found: pass the --out directory of "nx run trainer:finetune-offers" as --data`);
  }
  const summary = JSON.parse(summaryText) as OfferDataSummary;
  if (summary.formatVersion !== 1) throw new Error(`${join(dir, 'offers.json')} has format ${String(summary.formatVersion)}; this version of mcm reads format 1`);
  const lines = (await readFile(join(dir, 'offers.jsonl'), 'utf8')).split('\n').filter((line) => line.trim() !== '');
  return { summary, records: lines.map((line) => JSON.parse(line) as OfferRecord) };
}
