import { FIRST_VALUE_ID } from '@mcm/schema';
import type { OfferAction } from './actions.ts';
import { EVENT_TYPE_NAMES, type EventTypeIds, type History } from './history.ts';

/**
 * Hand-made aggregate features of a history, the kind a marketing team's tree model is
 * built on. They are counts and shares of event types, browsing shares and purchases per
 * product line and action category, the recency of the last cart and purchase, the last
 * event's product line, and recent variety and repeat views. They keep no order beyond
 * "last" and "recent", which is what a sequence model can add.
 */
export class AggregateFeatures {
  readonly names: string[];
  private readonly productLines: number[];
  private readonly categories: number[];

  constructor(
    productLineVocabularySize: number,
    actions: readonly OfferAction[],
    private readonly types: EventTypeIds,
  ) {
    this.productLines = [];
    for (let id = FIRST_VALUE_ID; id < productLineVocabularySize; id++) this.productLines.push(id);
    this.categories = actions.filter((action) => action.kind === 'first-purchase-category').map((action) => action.value!);

    this.names = [
      'events',
      ...EVENT_TYPE_NAMES.map((type) => `count_${type}`),
      ...EVENT_TYPE_NAMES.map((type) => `share_${type}`),
      ...this.productLines.flatMap((id) => [`product_line_${id}_browse_share`, `product_line_${id}_purchased`, `product_line_${id}_last`]),
      ...this.categories.flatMap((id) => [`category_${id}_browse_share`, `category_${id}_purchased`]),
      'events_since_cart',
      'events_since_purchase',
      'cart_after_purchase',
      'recent_subcategories',
      'recent_repeat_views',
      'last_10_browse_share_of_last_product_line',
    ];
  }

  /** Returns the feature vector of one history, in the order of `names`. */
  compute(history: History): number[] {
    const { types } = this;
    const n = history.length;
    const typeCounts = new Map<number, number>();
    const browse = new Map<number, number>();
    const browseCategory = new Map<number, number>();
    const purchasedLines = new Set<number>();
    const purchasedCategories = new Set<number>();
    let browseTotal = 0;
    let lastCart = -1;
    let lastPurchase = -1;

    for (let e = 0; e < n; e++) {
      const type = history.eventType[e]!;
      typeCounts.set(type, (typeCounts.get(type) ?? 0) + 1);
      if (type === types.purchase) {
        purchasedLines.add(history.productLine[e]!);
        purchasedCategories.add(history.category[e]!);
        lastPurchase = e;
      } else {
        if (type === types.cart) lastCart = e;
        browseTotal++;
        browse.set(history.productLine[e]!, (browse.get(history.productLine[e]!) ?? 0) + 1);
        browseCategory.set(history.category[e]!, (browseCategory.get(history.category[e]!) ?? 0) + 1);
      }
    }

    const lastLine = history.productLine[n - 1]!;
    const recentKey = history.item ?? history.subcategory;
    const seen = new Set<number>();
    const subcategories = new Set<number>();
    let repeatViews = 0;
    let recentLastLine = 0;
    for (let e = Math.max(0, n - 20); e < n; e++) {
      if (history.eventType[e] === types.view && seen.has(recentKey[e]!)) repeatViews++;
      seen.add(recentKey[e]!);
    }
    for (let e = Math.max(0, n - 10); e < n; e++) {
      subcategories.add(history.subcategory[e]!);
      if (history.productLine[e] === lastLine) recentLastLine++;
    }

    const share = (count: number, total: number) => (total > 0 ? count / total : 0);
    return [
      n,
      ...EVENT_TYPE_NAMES.map((type) => typeCounts.get(types[type]) ?? 0),
      ...EVENT_TYPE_NAMES.map((type) => share(typeCounts.get(types[type]) ?? 0, n)),
      ...this.productLines.flatMap((id) => [share(browse.get(id) ?? 0, browseTotal), purchasedLines.has(id) ? 1 : 0, lastLine === id ? 1 : 0]),
      ...this.categories.flatMap((id) => [share(browseCategory.get(id) ?? 0, browseTotal), purchasedCategories.has(id) ? 1 : 0]),
      lastCart < 0 ? n : n - 1 - lastCart,
      lastPurchase < 0 ? n : n - 1 - lastPurchase,
      lastCart > lastPurchase ? 1 : 0,
      subcategories.size,
      repeatViews,
      recentLastLine / Math.min(n, 10),
    ];
  }
}
