import type { Catalog } from './catalog.ts';
import { PURCHASE } from './event-types.ts';
import { NDCG_K } from './prediction.ts';
import type { CustomerSequence } from './read-output.ts';

/** The planted complement pattern as found in generated events, to compare with PlantedPatternPrediction. */
export interface PlantedPatternMeasurement {
  /** Last purchases of a checkout whose subcategory has complements. */
  triggers: number;
  /** Triggers that some event follows. */
  triggersWithNext: number;
  /** Share of triggersWithNext whose next event lies in a complement subcategory. */
  complementNextShare: number;
  /** NDCG@10 at triggers with a next event: complements first by weight, then subcategories by event count. */
  oracleNdcgAtTrigger: number;
  /** NDCG@10 at triggers with a next event: subcategories by event count. */
  popularityNdcgAtTrigger: number;
  marginAtTrigger: number;
  /** Events that some event of the same customer follows. */
  positions: number;
  /** triggersWithNext / positions. */
  triggerShare: number;
  marginOverAllPositions: number;
}

/** Finds every trigger in `sequences` and scores the pattern oracle and popularity on the event after it. */
export function measurePlantedPattern(sequences: CustomerSequence[], catalog: Catalog): PlantedPatternMeasurement {
  const subcategoryOf = (item: number): number => catalog.itemSubcategory[item]!;
  const popularityRank = rankSubcategoriesByCount(sequences, catalog);

  let triggers = 0;
  let triggersWithNext = 0;
  let complementNext = 0;
  let oracleSum = 0;
  let popularitySum = 0;
  let positions = 0;

  for (const sequence of sequences) {
    const length = sequence.item.length;
    positions += Math.max(0, length - 1);

    for (let i = 0; i < length; i++) {
      if (sequence.type[i] !== PURCHASE) continue;
      const complements = catalog.complements[subcategoryOf(sequence.item[i]!)];
      if (complements === null || complements === undefined) continue;

      // Only the last purchase of a checkout triggers. The purchases of one checkout share a second.
      const sameCheckout = i + 1 < length && sequence.type[i + 1] === PURCHASE && sequence.time[i + 1] === sequence.time[i];
      if (sameCheckout) continue;
      triggers++;
      if (i + 1 === length) continue;
      triggersWithNext++;

      const next = subcategoryOf(sequence.item[i + 1]!);
      const members = Array.from(complements.subcategories);
      const complementPosition = members.indexOf(next);
      if (complementPosition >= 0) complementNext++;

      // The oracle puts the complements on top, so every other subcategory moves down by the complements it passes.
      const passed = members.filter((member) => popularityRank[member]! > popularityRank[next]!).length;
      const oracleRank = complementPosition >= 0 ? complementPosition + 1 : popularityRank[next]! + passed;
      oracleSum += gain(oracleRank);
      popularitySum += gain(popularityRank[next]!);
    }
  }

  const oracleNdcgAtTrigger = oracleSum / triggersWithNext;
  const popularityNdcgAtTrigger = popularitySum / triggersWithNext;
  const triggerShare = triggersWithNext / positions;
  return {
    triggers,
    triggersWithNext,
    complementNextShare: complementNext / triggersWithNext,
    oracleNdcgAtTrigger,
    popularityNdcgAtTrigger,
    marginAtTrigger: oracleNdcgAtTrigger - popularityNdcgAtTrigger,
    positions,
    triggerShare,
    marginOverAllPositions: triggerShare * (oracleNdcgAtTrigger - popularityNdcgAtTrigger),
  };
}

/** NDCG@10 for the next subcategory over every position, of two rankings that need no model. */
export interface NextSubcategoryBaselines {
  positions: number;
  /** Subcategories by event count. */
  popularityNdcg: number;
  /** The current event's subcategory first, then by event count: what session continuity alone is worth. */
  repeatLastNdcg: number;
}

/** Scores popularity and "repeat the last subcategory" on the next event of every position. */
export function measureNextSubcategoryBaselines(sequences: CustomerSequence[], catalog: Catalog): NextSubcategoryBaselines {
  const popularityRank = rankSubcategoriesByCount(sequences, catalog);
  let positions = 0;
  let popularitySum = 0;
  let repeatSum = 0;

  for (const sequence of sequences) {
    for (let i = 0; i + 1 < sequence.item.length; i++) {
      const current = catalog.itemSubcategory[sequence.item[i]!]!;
      const next = catalog.itemSubcategory[sequence.item[i + 1]!]!;
      positions++;
      popularitySum += gain(popularityRank[next]!);

      // Putting `current` first moves every subcategory that was ahead of it down by one.
      const repeatRank = next === current ? 1 : popularityRank[next]! + (popularityRank[current]! > popularityRank[next]! ? 1 : 0);
      repeatSum += gain(repeatRank);
    }
  }
  return { positions, popularityNdcg: popularitySum / positions, repeatLastNdcg: repeatSum / positions };
}

/** Returns the 1-based rank of each subcategory by its number of events, ties by index. */
function rankSubcategoriesByCount(sequences: CustomerSequence[], catalog: Catalog): Int32Array {
  const counts = new Float64Array(catalog.subcategories.length);
  for (const sequence of sequences) for (const item of sequence.item) counts[catalog.itemSubcategory[item]!]!++;

  const order = Array.from(counts.keys()).sort((a, b) => counts[b]! - counts[a]! || a - b);
  const ranks = new Int32Array(counts.length);
  order.forEach((subcategory, i) => (ranks[subcategory] = i + 1));
  return ranks;
}

function gain(rank: number): number {
  return rank <= NDCG_K ? 1 / Math.log2(rank + 1) : 0;
}
