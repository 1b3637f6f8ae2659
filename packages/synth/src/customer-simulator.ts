import type { Random } from '@mcm/common';
import type { Catalog } from './catalog.ts';
import type { EventBuffer } from './event-buffer.ts';
import { CAMERA_SEARCH, CART, PURCHASE, SIGN_UP, VIEW, WISHLIST } from './event-types.ts';
import type { SynthParameters } from './parameters.ts';

const SECONDS_PER_DAY = 86_400;

/** Shortest pause between two sessions of one customer. */
const MIN_SESSION_GAP_SECONDS = 60;

/** Hour of the day (UTC) when session starts peak. */
const DIURNAL_PEAK_HOUR = 20;

/** A consumable comes back after its interval times a uniform factor in [1 - x, 1 + x]. */
const REPURCHASE_JITTER = 0.3;

/** Limit on complement chains (tent -> camping stove -> gas canister). The rules have no cycle, so this is only a guard. */
const MAX_COMPLEMENT_DEPTH = 3;

/** No preferred brand: items are drawn by popularity alone. */
const NO_BRAND = -1;

/**
 * Simulates one customer at a time and appends the events to an EventBuffer.
 *
 * A customer has a heavy-tailed number of sessions spread over the time range with a
 * daily cycle. Each session browses one category (one of the customer's drifting
 * interests, or a popular category), views items, adds some to the cart or wishlist and
 * checks out at the end. After a checkout whose last purchase has complements, the next
 * event is a view of a complement with probability complementProbability: the planted
 * pattern. Consumables come back as repurchase sessions of the same item.
 *
 * Every cart, wishlist and purchase of an item follows a view of that item by the same
 * customer. One customer's events never go back in time, and only the purchases of one
 * checkout share a second.
 */
export class CustomerSimulator {
  private readonly rangeSeconds: number;
  private readonly startEpochSeconds: number;
  private readonly logSessionsMedian: number;
  private readonly viewsContinue: number;

  // State of the customer being simulated, reset by simulate().
  private random!: Random;
  private buffer!: EventBuffer;
  private customer = 0;
  private eventsLeft = 0;
  private ended = false;
  private lastTime = 0;
  private readonly interestCategory: Int32Array;
  private readonly interestBrand: Int32Array;
  private readonly sessionViews: number[] = [];
  private readonly cart: number[] = [];
  private readonly repurchaseTime: number[] = [];
  private readonly repurchaseItem: number[] = [];

  constructor(
    private readonly catalog: Catalog,
    private readonly parameters: SynthParameters,
  ) {
    this.rangeSeconds = parameters.days * SECONDS_PER_DAY;
    this.startEpochSeconds = Math.floor(Date.parse(parameters.start) / 1000);
    this.logSessionsMedian = Math.log(parameters.sessionsMedian);
    this.viewsContinue = 1 - 1 / parameters.viewsPerSessionMean;
    this.interestCategory = new Int32Array(parameters.interestSlots);
    this.interestBrand = new Int32Array(parameters.interestSlots);
  }

  /** Appends the events of one customer (`customer` is its position in the file) and returns how many there are. */
  simulate(random: Random, customer: number, buffer: EventBuffer): number {
    const first = buffer.length;
    this.random = random;
    this.buffer = buffer;
    this.customer = customer;
    this.eventsLeft = this.parameters.maxEventsPerCustomer;
    this.ended = false;
    this.repurchaseTime.length = 0;
    this.repurchaseItem.length = 0;

    // A new customer's first session opens with the sign-up, at the join time.
    const sessions = this.sampleSessionCount();
    const isNew = random.next() < this.parameters.newCustomerFraction;
    const joinTime = isNew ? random.int(this.rangeSeconds) : 0;
    const sessionStarts = isNew
      ? [joinTime, ...this.sampleSessionStarts(sessions - 1, joinTime + 1)]
      : Array.from(this.sampleSessionStarts(sessions, 1));
    for (let slot = 0; slot < this.interestCategory.length; slot++) this.replaceInterest(slot);

    this.lastTime = joinTime - MIN_SESSION_GAP_SECONDS;
    for (let session = 0; session < sessionStarts.length && !this.ended; session++) {
      const plannedStart = sessionStarts[session]!;
      this.runRepurchasesDueBy(plannedStart);
      if (random.next() < this.parameters.interestDriftProbability) this.replaceInterest(random.int(this.interestCategory.length));

      const signUp = isNew && session === 0;
      this.runBrowsingSession(Math.max(plannedStart, this.lastTime + MIN_SESSION_GAP_SECONDS), signUp);
    }
    this.runRepurchasesDueBy(this.rangeSeconds);

    return buffer.length - first;
  }

  private sampleSessionCount(): number {
    const draw = Math.round(Math.exp(this.logSessionsMedian + this.parameters.sessionsSigma * this.random.normal()));
    return Math.min(this.parameters.maxSessions, Math.max(1, draw));
  }

  /** Draws `count` session start times in [earliest, end of range), denser in the evening, in ascending order. */
  private sampleSessionStarts(count: number, earliest: number): Float64Array {
    const starts = new Float64Array(count);
    const span = this.rangeSeconds - earliest;
    if (span <= 0) return new Float64Array(0);

    const amplitude = this.parameters.diurnalAmplitude;
    for (let i = 0; i < count; ) {
      const time = earliest + Math.floor(this.random.next() * span);
      const hour = secondOfDay(this.startEpochSeconds + time) / 3600;
      const acceptance = (1 + amplitude * Math.cos((2 * Math.PI * (hour - DIURNAL_PEAK_HOUR)) / 24)) / (1 + amplitude);
      if (this.random.next() < acceptance) starts[i++] = time;
    }
    return starts.sort();
  }

  /** Sets interest `slot` to a category drawn by popularity and a brand drawn within it by popularity. */
  private replaceInterest(slot: number): void {
    const category = this.catalog.categorySampler.sample(this.random);
    const subcategory = this.sampleSubcategory(category);
    const brands = this.catalog.subcategoryBrands[subcategory]!;
    this.interestCategory[slot] = category;
    this.interestBrand[slot] = brands.brands[brands.sampler.sample(this.random)]!;
  }

  /** Runs one session from `start`. With `signUp` it opens with the sign-up, on the page of its first item. */
  private runBrowsingSession(start: number, signUp: boolean): void {
    const random = this.random;
    const parameters = this.parameters;

    let category: number;
    let brand = NO_BRAND;
    if (random.next() < parameters.interestProbability) {
      const slot = random.int(this.interestCategory.length);
      category = this.interestCategory[slot]!;
      brand = this.interestBrand[slot]!;
    } else {
      category = this.catalog.categorySampler.sample(random);
    }

    let subcategory = this.sampleSubcategory(category);
    let item = this.drawItem(subcategory, brand);
    let time = start;
    this.sessionViews.length = 0;
    this.cart.length = 0;

    if (signUp) {
      this.emit(time, SIGN_UP, item);
      time += this.gap(parameters.eventGapSeconds / 4);
    } else if (random.next() < parameters.cameraSearchProbability) {
      this.emit(time, CAMERA_SEARCH, item);
      time += this.gap(parameters.eventGapSeconds / 4);
    }

    for (let view = 0; ; view++) {
      if (view > 0) {
        if (random.next() < parameters.revisitProbability) {
          item = this.sessionViews[random.int(this.sessionViews.length)]!;
        } else {
          if (random.next() < parameters.subcategorySwitchProbability) subcategory = this.sampleSubcategory(category);
          item = this.drawItem(subcategory, brand);
        }
        time += this.gap(parameters.eventGapSeconds);
      }
      time = this.viewWithFollowUps(time, item);
      if (this.ended || random.next() >= this.viewsContinue) break;
    }

    this.checkOut(time, 0);
  }

  /** Emits a view of `item`, possibly followed by a wishlist and a cart event, and returns the time of the last one. */
  private viewWithFollowUps(time: number, item: number): number {
    const parameters = this.parameters;
    this.emit(time, VIEW, item);
    this.sessionViews.push(item);

    if (this.random.next() < parameters.wishlistProbability) {
      time += this.gap(parameters.eventGapSeconds / 4);
      this.emit(time, WISHLIST, item);
    }
    if (this.random.next() < parameters.cartProbability && !this.cart.includes(item)) {
      time += this.gap(parameters.eventGapSeconds / 4);
      this.emit(time, CART, item);
      this.cart.push(item);
    }
    return time;
  }

  /**
   * Buys each carted item with purchaseProbability, then plants a complement view after
   * the last purchase. `depth` counts complement visits in a chain.
   */
  private checkOut(time: number, depth: number): void {
    const purchased = this.cart.filter(() => this.random.next() < this.parameters.purchaseProbability);
    this.cart.length = 0;
    if (purchased.length === 0 || this.ended) return;
    this.purchase(time + this.gap(this.parameters.eventGapSeconds), purchased, depth);
  }

  /** Emits one checkout: every item bought in the same second, the order of `items` kept. */
  private purchase(time: number, items: number[], depth: number): void {
    for (const item of items) {
      this.emit(time, PURCHASE, item);
      this.scheduleRepurchase(time, item);
    }
    this.plantComplement(time, items[items.length - 1]!, depth);
  }

  private plantComplement(time: number, purchasedItem: number, depth: number): void {
    const complements = this.catalog.complements[this.catalog.itemSubcategory[purchasedItem]!];
    if (complements === null || complements === undefined || depth >= MAX_COMPLEMENT_DEPTH) return;
    if (this.random.next() >= this.parameters.complementProbability) return;

    const subcategory = complements.subcategories[complements.sampler.sample(this.random)]!;
    const item = this.drawItem(subcategory, this.catalog.itemBrand[purchasedItem]!);
    time += this.gap(this.parameters.complementGapSeconds);

    this.cart.length = 0;
    time = this.viewWithFollowUps(time, item);
    this.checkOut(time, depth + 1);
  }

  private scheduleRepurchase(time: number, item: number): void {
    const intervalDays = this.catalog.repurchaseIntervalDays[this.catalog.itemSubcategory[item]!]!;
    if (intervalDays === 0 || this.random.next() >= this.parameters.repurchaseProbability) return;

    const factor = 1 - REPURCHASE_JITTER + 2 * REPURCHASE_JITTER * this.random.next();
    const due = time + Math.floor(intervalDays * SECONDS_PER_DAY * factor);
    if (due >= this.rangeSeconds) return;

    // Keep the pending repurchases sorted by due time. A customer rarely has more than a few, so insertion is cheap.
    let position = this.repurchaseTime.length;
    while (position > 0 && this.repurchaseTime[position - 1]! > due) position--;
    this.repurchaseTime.splice(position, 0, due);
    this.repurchaseItem.splice(position, 0, item);
  }

  /** Runs, in due order, every pending repurchase due at or before `time`: view, cart and purchase of the same item. */
  private runRepurchasesDueBy(time: number): void {
    while (this.repurchaseTime.length > 0 && this.repurchaseTime[0]! <= time && !this.ended) {
      const due = this.repurchaseTime.shift()!;
      const item = this.repurchaseItem.shift()!;

      let eventTime = Math.max(due, this.lastTime + MIN_SESSION_GAP_SECONDS);
      this.emit(eventTime, VIEW, item);
      eventTime += this.gap(this.parameters.eventGapSeconds / 4);
      this.emit(eventTime, CART, item);

      // A repurchase does not hesitate: the carted item is always bought.
      this.purchase(eventTime + this.gap(this.parameters.eventGapSeconds), [item], 0);
    }
  }

  private sampleSubcategory(category: number): number {
    const members = this.catalog.categorySubcategories[category]!;
    return members[this.catalog.subcategorySamplers[category]!.sample(this.random)]!;
  }

  /** Draws an item of `subcategory`, from `brand` with probability brandLoyalty when the subcategory has that brand. */
  private drawItem(subcategory: number, brand: number): number {
    if (brand !== NO_BRAND && this.random.next() < this.parameters.brandLoyalty) {
      const pool = this.catalog.subcategoryBrandItems[subcategory]!.get(brand);
      if (pool !== undefined) return pool.items[pool.sampler.sample(this.random)]!;
    }
    const pool = this.catalog.subcategoryItems[subcategory]!;
    return pool.items[pool.sampler.sample(this.random)]!;
  }

  /** Returns a gap of 1 + an exponential number of seconds with mean `meanSeconds`, rounded down. */
  private gap(meanSeconds: number): number {
    return 1 + Math.floor(-Math.log(1 - this.random.next()) * meanSeconds);
  }

  /** Appends one event unless the time range or the customer's event cap is exhausted, which ends the customer. */
  private emit(time: number, type: number, item: number): void {
    if (this.ended) return;
    if (time >= this.rangeSeconds || this.eventsLeft === 0) {
      this.ended = true;
      return;
    }
    this.buffer.push(time, this.customer, item, type);
    this.eventsLeft--;
    this.lastTime = time;
  }
}

function secondOfDay(epochSeconds: number): number {
  return ((epochSeconds % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY;
}
