import { FIRST_VALUE_ID, MISSING_VALUE, readVocabulary, SPLIT_TRAIN } from '@mcm/schema';
import type { TrainingData } from '@mcm/training';
import type { EventTypeIds, History } from './history.ts';

/** Number of incentivised actions, as in the MCM paper's fine-tuning task. */
export const ACTION_COUNT = 28;

/**
 * An incentivised action a customer can be offered. `value` is the vocabulary id of the
 * product line or category for the first-purchase actions, and null otherwise.
 */
export interface OfferAction {
  index: number;
  name: string;
  kind: 'first-purchase-product-line' | 'first-purchase-category' | 'try-camera-search' | 'try-wishlist' | 'complete-cart' | 'repeat-purchase' | 'sign-up';
  value: number | null;
}

const BEHAVIOURAL_KINDS = ['try-camera-search', 'try-wishlist', 'complete-cart', 'repeat-purchase', 'sign-up'] as const;

/**
 * Defines the 28 actions of a dataset: a first purchase in each product line, the five
 * behavioural actions, and first purchases in the most frequent training-period
 * categories up to 28. Raises when the dataset has too few product lines and categories.
 */
export async function defineActions(data: TrainingData): Promise<OfferAction[]> {
  const productLines = await realValues(data, 'product_line');
  const actions: OfferAction[] = productLines.map(({ id, value }) => ({ index: 0, name: `first purchase in ${value}`, kind: 'first-purchase-product-line', value: id }));
  for (const kind of BEHAVIOURAL_KINDS) actions.push({ index: 0, name: kind.replaceAll('-', ' '), kind, value: null });

  const categories = await realValues(data, 'category');
  const frequency = categoryFrequency(data);
  categories.sort((a, b) => (frequency.get(b.id) ?? 0) - (frequency.get(a.id) ?? 0) || a.id - b.id);
  for (const { id, value } of categories) {
    if (actions.length >= ACTION_COUNT) break;
    actions.push({ index: 0, name: `first purchase in ${value}`, kind: 'first-purchase-category', value: id });
  }
  if (actions.length < ACTION_COUNT) {
    throw new Error(`${data.dir} has ${productLines.length} product lines and ${categories.length} categories, too few for ${ACTION_COUNT} actions`);
  }
  return actions.slice(0, ACTION_COUNT).map((action, index) => ({ ...action, index }));
}

/** Reads the vocabulary's real values: not padding, out-of-vocabulary or the missing value. */
async function realValues(data: TrainingData, feature: string): Promise<Array<{ id: number; value: string }>> {
  const values = await readVocabulary(data.dir, feature);
  const real: Array<{ id: number; value: string }> = [];
  for (let id = FIRST_VALUE_ID; id < values.length; id++) if (values[id] !== MISSING_VALUE) real.push({ id, value: values[id]! });
  return real;
}

function categoryFrequency(data: TrainingData): Map<number, number> {
  const counts = new Map<number, number>();
  for (const shard of data.shards) {
    const column = shard.features.category;
    if (column === undefined || column.kind !== 'single') continue;
    for (let e = 0; e < column.values.length; e++) {
      if (shard.split[e] === SPLIT_TRAIN) counts.set(column.values[e]!, (counts.get(column.values[e]!) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * Parameters of the customers' responses to offers. The logit of converting on an
 * eligible action is `base + affinity`; the logit of converting on none is `noConversion`.
 */
export const RESPONSE_MODEL = {
  /** Logit of taking no action; with the bases below about 60% of the offers convert (measured on 2,000 synthetic customers). */
  noConversion: 3,
  /** Logit of an action before the history's signal. */
  base: -1.5,
  /** Each older event counts this much less in an interest share: the most recent events dominate. */
  recencyDecay: 0.8,
  /** Weight of the recency-weighted share of a product line or category among the viewed, carted or wish-listed events. */
  interestWeight: 5,
  /** Extra logit when an item of the product line or category was carted in the last 10 events. */
  recentCartBonus: 1.5,
  /** Extra logit for completing a cart whose last cart event is among the last 5 events. */
  freshCartBonus: 2.5,
} as const;

/** Signals of one history that the responses read. */
interface HistorySignals {
  /** Recency-weighted share of each product line / category id among browsing events (view, cart, wishlist). */
  productLineInterest: Map<number, number>;
  categoryInterest: Map<number, number>;
  purchasedProductLines: Set<number>;
  purchasedCategories: Set<number>;
  /** Ids carted among the last 10 events. */
  recentCartProductLines: Set<number>;
  recentCartCategories: Set<number>;
  hasType: Set<number>;
  /** Events since the last cart event that no purchase followed, or null when there is none. */
  eventsSinceOpenCart: number | null;
  /** Whether the subcategory of the last purchase was viewed again after it. */
  lastPurchaseRevisited: boolean;
  /** Views of an item seen before among the last 20 events. */
  repeatViews: number;
  /** Distinct subcategories among the last 10 events. */
  recentVariety: number;
}

/** Computes what the responses read from a history; events are read oldest first. */
export function historySignals(history: History, types: EventTypeIds): HistorySignals {
  const n = history.length;
  const productLineInterest = new Map<number, number>();
  const categoryInterest = new Map<number, number>();
  const purchasedProductLines = new Set<number>();
  const purchasedCategories = new Set<number>();
  const recentCartProductLines = new Set<number>();
  const recentCartCategories = new Set<number>();
  const hasType = new Set<number>();
  let interestTotal = 0;
  let lastCart = -1;
  let lastPurchase = -1;

  for (let e = 0; e < n; e++) {
    const type = history.eventType[e]!;
    const productLine = history.productLine[e]!;
    const category = history.category[e]!;
    hasType.add(type);
    if (type === types.purchase) {
      purchasedProductLines.add(productLine);
      purchasedCategories.add(category);
      lastPurchase = e;
      continue;
    }
    if (type === types.cart) {
      lastCart = e;
      if (e >= n - 10) {
        recentCartProductLines.add(productLine);
        recentCartCategories.add(category);
      }
    }
    if (type === types.view || type === types.cart || type === types.wishlist) {
      const weight = RESPONSE_MODEL.recencyDecay ** (n - 1 - e);
      interestTotal += weight;
      productLineInterest.set(productLine, (productLineInterest.get(productLine) ?? 0) + weight);
      categoryInterest.set(category, (categoryInterest.get(category) ?? 0) + weight);
    }
  }
  if (interestTotal > 0) {
    for (const [id, weight] of productLineInterest) productLineInterest.set(id, weight / interestTotal);
    for (const [id, weight] of categoryInterest) categoryInterest.set(id, weight / interestTotal);
  }

  let lastPurchaseRevisited = false;
  if (lastPurchase >= 0) {
    const subcategory = history.subcategory[lastPurchase]!;
    for (let e = lastPurchase + 1; e < n; e++) if (history.eventType[e] === types.view && history.subcategory[e] === subcategory) lastPurchaseRevisited = true;
  }

  const recentKey = history.item ?? history.subcategory;
  const seen = new Set<number>();
  let repeatViews = 0;
  for (let e = Math.max(0, n - 20); e < n; e++) {
    if (history.eventType[e] !== types.view) continue;
    if (seen.has(recentKey[e]!)) repeatViews++;
    seen.add(recentKey[e]!);
  }
  const variety = new Set<number>();
  for (let e = Math.max(0, n - 10); e < n; e++) variety.add(history.subcategory[e]!);

  return {
    productLineInterest,
    categoryInterest,
    purchasedProductLines,
    purchasedCategories,
    recentCartProductLines,
    recentCartCategories,
    hasType,
    eventsSinceOpenCart: lastCart > lastPurchase ? n - 1 - lastCart : null,
    lastPurchaseRevisited,
    repeatViews,
    recentVariety: variety.size,
  };
}

/**
 * Returns the conversion logit of each action for a customer with these signals, or
 * null for an action the customer is not eligible for (a first purchase where the
 * customer already bought, a first use of what they already used).
 */
export function actionLogits(actions: readonly OfferAction[], signals: HistorySignals, types: EventTypeIds, historyLength: number): Array<number | null> {
  const { base, interestWeight, recentCartBonus, freshCartBonus } = RESPONSE_MODEL;
  return actions.map((action) => {
    switch (action.kind) {
      case 'first-purchase-product-line': {
        if (signals.purchasedProductLines.has(action.value!)) return null;
        const cart = signals.recentCartProductLines.has(action.value!) ? recentCartBonus : 0;
        return base + interestWeight * (signals.productLineInterest.get(action.value!) ?? 0) + cart;
      }
      case 'first-purchase-category': {
        if (signals.purchasedCategories.has(action.value!)) return null;
        const cart = signals.recentCartCategories.has(action.value!) ? recentCartBonus : 0;
        return base + interestWeight * (signals.categoryInterest.get(action.value!) ?? 0) + cart;
      }
      case 'try-camera-search':
        // Customers who browse many subcategories in a short span try visual search.
        return signals.hasType.has(types.camera_search) ? null : base - 1 + 0.4 * signals.recentVariety;
      case 'try-wishlist':
        // Customers who keep coming back to the same items start a wish list.
        return signals.hasType.has(types.wishlist) ? null : base - 1 + 0.8 * Math.min(signals.repeatViews, 5);
      case 'complete-cart':
        if (signals.eventsSinceOpenCart === null) return null;
        return base + (signals.eventsSinceOpenCart < 5 ? freshCartBonus : 0.5);
      case 'repeat-purchase':
        if (signals.purchasedCategories.size === 0) return null;
        return base + (signals.lastPurchaseRevisited ? 2 : -1);
      case 'sign-up':
        return signals.hasType.has(types.sign_up) ? null : base - 2 + Math.min(historyLength, 40) / 20;
    }
  });
}
