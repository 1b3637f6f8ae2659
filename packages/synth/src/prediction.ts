import type { Catalog } from './catalog.ts';
import type { SynthParameters } from './parameters.ts';

/** Rank cut-off of the predicted NDCG. */
export const NDCG_K = 10;

/**
 * Predicted value of the planted complement pattern for the next-subcategory task,
 * computed from the parameters and the catalog alone (docs/generator.md derives each term).
 * A trigger is the last purchase of a checkout whose subcategory has complements.
 */
export interface PlantedPatternPrediction {
  /** p: chance that a trigger is followed at once by a complement view. */
  complementProbability: number;
  /** q: estimated chance that some event follows a trigger that planted nothing (another session exists). */
  laterEventProbability: number;
  /** r = p / (p + (1 - p) q): share of triggers with a next event whose next event is the planted complement view. */
  plantedNextShare: number;
  /** s: estimated chance that the session after a trigger browses the trigger's category again. */
  sameCategoryProbability: number;
  /** r + (1 - r) x m(complements): share of triggers with a next event whose next event lies in a complement subcategory, planted or by chance. */
  complementNextShare: number;
  /** NDCG@10 at trigger positions of a ranking that puts the complements first, then popularity. */
  oracleNdcgAtTrigger: number;
  /** NDCG@10 at trigger positions of the global popularity ranking. */
  popularityNdcgAtTrigger: number;
  /** oracleNdcgAtTrigger - popularityNdcgAtTrigger. */
  marginAtTrigger: number;
  /** f: estimated share of all next-event positions that are triggers. */
  triggerShare: number;
  /** f x marginAtTrigger: the pattern's gain over popularity averaged over every position. */
  marginOverAllPositions: number;
}

/** Predicts the planted pattern's effect on next-subcategory NDCG@10, as described by PlantedPatternPrediction. */
export function predictPlantedPattern(catalog: Catalog, parameters: SynthParameters): PlantedPatternPrediction {
  const p = parameters.complementProbability;
  // NOTE: q counts browsing sessions only. Repurchase sessions add later events, so with the
  // defaults the measured q is about 0.86 against 0.84 here, and r comes out about 0.01 high.
  const q = 1 - 1 / expectedSessions(parameters);
  const r = p / (p + (1 - p) * q);
  const sameCategory = sameCategoryProbability(parameters);
  const popularity = catalog.subcategoryProbability;
  const popularityRank = ranksByProbability(popularity);

  let triggerWeight = 0;
  let complementSum = 0;
  let oracleSum = 0;
  let popularitySum = 0;
  catalog.complements.forEach((complements, trigger) => {
    if (complements === null) return;
    const weight = popularity[trigger]!;
    const members = Array.from(complements.subcategories);
    const background = nextSessionDistribution(catalog, trigger, sameCategory);

    // The oracle ranks the complements first (by weight, as listed), then everything else by popularity.
    const oracleRank = new Int32Array(popularity.length);
    members.forEach((subcategory, j) => (oracleRank[subcategory] = j + 1));
    const rest = Array.from(popularity.keys())
      .filter((x) => !members.includes(x))
      .sort((a, b) => popularityRank[a]! - popularityRank[b]!);
    rest.forEach((x, i) => (oracleRank[x] = members.length + i + 1));

    let oraclePlanted = 0;
    let popularityPlanted = 0;
    let chance = 0;
    members.forEach((subcategory, j) => {
      chance += background[subcategory]!;
      oraclePlanted += complements.weights[j]! * gain(j + 1);
      popularityPlanted += complements.weights[j]! * gain(popularityRank[subcategory]!);
    });
    let oracleBackground = 0;
    let popularityBackground = 0;
    for (let x = 0; x < popularity.length; x++) {
      oracleBackground += background[x]! * gain(oracleRank[x]!);
      popularityBackground += background[x]! * gain(popularityRank[x]!);
    }

    triggerWeight += weight;
    complementSum += weight * (r + (1 - r) * chance);
    oracleSum += weight * (r * oraclePlanted + (1 - r) * oracleBackground);
    popularitySum += weight * (r * popularityPlanted + (1 - r) * popularityBackground);
  });

  const oracleNdcgAtTrigger = oracleSum / triggerWeight;
  const popularityNdcgAtTrigger = popularitySum / triggerWeight;
  const marginAtTrigger = oracleNdcgAtTrigger - popularityNdcgAtTrigger;
  const triggerShare = estimateTriggerShare(catalog, parameters);
  return {
    complementProbability: p,
    laterEventProbability: q,
    plantedNextShare: r,
    sameCategoryProbability: sameCategory,
    complementNextShare: complementSum / triggerWeight,
    oracleNdcgAtTrigger,
    popularityNdcgAtTrigger,
    marginAtTrigger,
    triggerShare,
    marginOverAllPositions: triggerShare * marginAtTrigger,
  };
}

/**
 * s = a x (a / k) x (1 - d / k): the chance that the session after a trigger browses the
 * trigger's category again. The trigger's session came from an interest (a), the next one
 * picks the same interest slot (a / k), and drift has not replaced that slot meanwhile.
 */
function sameCategoryProbability(parameters: SynthParameters): number {
  const a = parameters.interestProbability;
  const k = parameters.interestSlots;
  const d = parameters.interestDriftProbability;
  return a * (a / k) * (1 - d / k);
}

/** m(x) = s p(x | trigger's category) + (1 - s) p(x): the subcategory of the first event of the next session. */
function nextSessionDistribution(catalog: Catalog, trigger: number, sameCategory: number): Float64Array {
  const category = catalog.subcategoryCategory[trigger]!;
  const categoryProbability = catalog.categoryProbability[category]!;
  const distribution = new Float64Array(catalog.subcategories.length);
  for (let x = 0; x < distribution.length; x++) {
    const global = catalog.subcategoryProbability[x]!;
    const withinCategory = catalog.subcategoryCategory[x] === category ? global / categoryProbability : 0;
    distribution[x] = sameCategory * withinCategory + (1 - sameCategory) * global;
  }
  return distribution;
}

/** Expected sessions per customer: the rounded, clamped log-normal, integrated numerically. */
export function expectedSessions(parameters: SynthParameters): number {
  const step = 1e-3;
  let mean = 0;
  let mass = 0;
  for (let z = -8; z <= 8; z += step) {
    const density = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
    const draw = Math.round(parameters.sessionsMedian * Math.exp(parameters.sessionsSigma * z));
    mean += density * Math.min(parameters.maxSessions, Math.max(1, draw));
    mass += density;
  }
  return mean / mass;
}

/**
 * Estimates the share of events that are triggers: checkouts per session whose last item
 * lies in a trigger subcategory, over events per session. It ignores repurchase sessions
 * and complement visits, which add a few percent of events.
 */
function estimateTriggerShare(catalog: Catalog, parameters: SynthParameters): number {
  const views = parameters.viewsPerSessionMean;
  const continuing = 1 - 1 / views;
  const buyPerView = parameters.cartProbability * parameters.purchaseProbability;

  // Views are geometric: E[x^V] = (1 - c) x / (1 - c x) with c the chance of another view.
  const noPurchase = ((1 - continuing) * (1 - buyPerView)) / (1 - continuing * (1 - buyPerView));
  let triggerProbability = 0;
  catalog.complements.forEach((complements, subcategory) => {
    if (complements !== null) triggerProbability += catalog.subcategoryProbability[subcategory]!;
  });

  const eventsPerSession =
    parameters.cameraSearchProbability +
    views * (1 + parameters.wishlistProbability + parameters.cartProbability * (1 + parameters.purchaseProbability));
  return ((1 - noPurchase) * triggerProbability) / eventsPerSession;
}

/** Returns the NDCG@10 of a single relevant subcategory at 1-based `rank`. */
function gain(rank: number): number {
  return rank <= NDCG_K ? 1 / Math.log2(rank + 1) : 0;
}

/** Returns the 1-based rank of every entry, most probable first, ties by index. */
function ranksByProbability(probability: Float64Array): Int32Array {
  const order = Array.from(probability.keys()).sort((a, b) => probability[b]! - probability[a]! || a - b);
  const ranks = new Int32Array(probability.length);
  order.forEach((x, i) => (ranks[x] = i + 1));
  return ranks;
}
