/**
 * Every parameter of the generator, with its default, unit, bounds and the reason for the
 * default. The CLI help and docs/generator.md are written from this table, and a test
 * checks that the docs list every default.
 */
export interface ParameterSpec {
  default: number | string;
  /** Unit shown in help text: "customers", "probability", "seconds", ... */
  unit: string;
  /** Inclusive bounds of a numeric parameter. */
  min?: number;
  max?: number;
  integer?: boolean;
  description: string;
  /** Reason for the default value. */
  reason: string;
}

export const PARAMETER_SPECS = {
  customers: {
    default: 1000,
    unit: 'customers',
    min: 1,
    max: 100_000_000,
    integer: true,
    description: 'Number of customers to generate.',
    reason: 'A sample that generates in under a second; pass 1e6 or 1e7 for benchmarks.',
  },
  seed: {
    default: 1,
    unit: 'integer',
    min: 0,
    max: 4_294_967_295,
    integer: true,
    description: 'Seed of every random draw; the same seed and parameters give byte-identical files.',
    reason: 'Any fixed value works; 1 is the documented reference run.',
  },
  start: {
    default: '2024-01-01T00:00:00Z',
    unit: 'ISO-8601 UTC time',
    description: 'Time of the earliest possible event.',
    reason: 'A fixed date keeps outputs comparable across runs.',
  },
  days: {
    default: 90,
    unit: 'days',
    min: 1,
    max: 365,
    integer: true,
    description: 'Length of the time range the events span.',
    reason: 'Room for the 80% / 10% / 10% time split of datasets/synth.json (72 / 9 / 9 days) with thousands of test events from 1k customers.',
  },
  items: {
    default: 20_000,
    unit: 'items',
    min: 1_000,
    max: 10_000_000,
    integer: true,
    description: 'Number of items in the catalog.',
    reason: 'About 84 items per subcategory: enough Zipf tail that item-level ranking is hard, few enough that a 1k-customer sample sees many items more than once.',
  },
  customersPerFile: {
    default: 50_000,
    unit: 'customers',
    min: 1,
    max: 1_000_000,
    integer: true,
    description: 'Customers per events file. One file is sorted by time in memory, so this bounds memory.',
    reason: 'About 1.4 million events per file, roughly 35 MB of column buffers, whatever the number of customers.',
  },
  brandsPerProductLine: {
    default: 40,
    unit: 'brands',
    min: 3,
    max: 10_000,
    integer: true,
    description: 'Brands that sell in one product line; each subcategory draws its brands from this pool.',
    reason: 'About 600 brands in all, so that one brand spans several subcategories of its product line.',
  },
  minBrandsPerSubcategory: {
    default: 3,
    unit: 'brands',
    min: 1,
    max: 10_000,
    integer: true,
    description: 'Minimum number of brands in one subcategory.',
    reason: 'A niche subcategory still has a choice of brands.',
  },
  maxBrandsPerSubcategory: {
    default: 12,
    unit: 'brands',
    min: 1,
    max: 10_000,
    integer: true,
    description: 'Maximum number of brands in one subcategory.',
    reason: 'With Zipf shares the top three of twelve brands hold about 60% of the subcategory\'s items.',
  },
  itemZipfExponent: {
    default: 1.0,
    unit: 'exponent',
    min: 0,
    max: 3,
    description: 'Zipf exponent of item popularity within a subcategory (weight of rank r is r^-s).',
    reason: 'Classic Zipf (exponent 1) gives a head of hits and a long tail; an assumption, not fitted to a real log.',
  },
  brandZipfExponent: {
    default: 1.0,
    unit: 'exponent',
    min: 0,
    max: 3,
    description: 'Zipf exponent of the brands\' shares of the items within a subcategory.',
    reason: 'A few leading brands and a long tail.',
  },
  categoryZipfExponent: {
    default: 0.8,
    unit: 'exponent',
    min: 0,
    max: 3,
    description: 'Zipf exponent of product lines, of categories within a product line and of subcategories within a category, in the taxonomy\'s listed order.',
    reason: 'Flatter than items: shoppers spread over departments more evenly than over items.',
  },
  missingBrandFraction: {
    default: 0.03,
    unit: 'fraction of items',
    min: 0,
    max: 1,
    description: 'Items whose brand is empty in catalog.csv.gz.',
    reason: 'Real catalogs have unbranded and unmapped items; the ingest must cope with them.',
  },
  missingCategoryFraction: {
    default: 0.01,
    unit: 'fraction of items',
    min: 0,
    max: 1,
    description: 'Items whose product line, category, subcategory and category path are all empty in catalog.csv.gz.',
    reason: 'Uncategorised items exist in real catalogs; the events still use them.',
  },
  sessionsMedian: {
    default: 3,
    unit: 'sessions',
    min: 1,
    max: 10_000,
    description: 'Median number of sessions of a customer (log-normal).',
    reason: 'With sessionsSigma 1.2 the mean is about 6.2 sessions; a customer has 29 events on average, 14 at the median.',
  },
  sessionsSigma: {
    default: 1.2,
    unit: 'log-normal sigma',
    min: 0,
    max: 4,
    description: 'Spread of the number of sessions; larger means a heavier tail of very active customers.',
    reason: 'About 1.5% of customers have more than 40 sessions and the 99th percentile history is about 230 events: a heavy tail like real logs.',
  },
  maxSessions: {
    default: 2_000,
    unit: 'sessions',
    min: 1,
    max: 100_000,
    integer: true,
    description: 'Cap on the sessions of one customer.',
    reason: 'Keeps the log-normal tail finite; almost never reached with the defaults.',
  },
  maxEventsPerCustomer: {
    default: 5_000,
    unit: 'events',
    min: 1,
    max: 1_000_000,
    integer: true,
    description: 'Cap on the events of one customer; the history stops when it is reached.',
    reason: 'Bounds one customer\'s memory and the sort key of a file (customersPerFile x maxEventsPerCustomer < 2^28).',
  },
  newCustomerFraction: {
    default: 0.2,
    unit: 'probability',
    min: 0,
    max: 1,
    description: 'Customers who join during the time range rather than before it; their first event is sign_up, on the page of the first item they view.',
    reason: 'A steady inflow of new customers whose first event is a sign-up, which MCM counts as a valuable action.',
  },
  diurnalAmplitude: {
    default: 0.6,
    unit: 'fraction',
    min: 0,
    max: 1,
    description: 'Strength of the daily cycle of session starts (0: uniform over the day).',
    reason: 'Peak to trough (1 + a) / (1 - a) = 4 : 1, an assumed evening-heavy day.',
  },
  viewsPerSessionMean: {
    default: 4,
    unit: 'views',
    min: 1,
    max: 1_000,
    description: 'Mean number of views in a session (geometric, at least 1).',
    reason: 'A short browse of a few product pages per visit.',
  },
  subcategorySwitchProbability: {
    default: 0.15,
    unit: 'probability per view',
    min: 0,
    max: 1,
    description: 'Chance that a view after the first re-draws the subcategory within the session\'s category.',
    reason: 'Sessions wander to neighbouring subcategories but mostly stay put.',
  },
  revisitProbability: {
    default: 0.2,
    unit: 'probability per view',
    min: 0,
    max: 1,
    description: 'Chance that a view re-opens an item already viewed in the session.',
    reason: 'Shoppers compare items and go back to them.',
  },
  cartProbability: {
    default: 0.06,
    unit: 'probability per view',
    min: 0,
    max: 1,
    description: 'Chance that a view is followed by adding the item to the cart.',
    reason: 'With purchaseProbability 0.4, carts are about 5% and purchases about 2.3% of all events, views about 89%.',
  },
  wishlistProbability: {
    default: 0.02,
    unit: 'probability per view',
    min: 0,
    max: 1,
    description: 'Chance that a view is followed by adding the item to the wishlist.',
    reason: 'A rarer valuable action than the cart.',
  },
  purchaseProbability: {
    default: 0.4,
    unit: 'probability per carted item',
    min: 0,
    max: 1,
    description: 'Chance that a carted item is bought at the end of the session; all items of one checkout share its second.',
    reason: 'Assumed: most carts are abandoned, here 60%.',
  },
  cameraSearchProbability: {
    default: 0.03,
    unit: 'probability per session',
    min: 0,
    max: 1,
    description: 'Chance that a session starts with a camera search that finds its first viewed item.',
    reason: 'A rare, incentivised action, as in the MCM fine-tuning task.',
  },
  eventGapSeconds: {
    default: 40,
    unit: 'seconds',
    min: 1,
    max: 86_400,
    description: 'Mean gap between two views of a session (1 + exponential); cart and wishlist follow a view after a quarter of it.',
    reason: 'Time to read a product page.',
  },
  interestSlots: {
    default: 3,
    unit: 'categories',
    min: 1,
    max: 50,
    integer: true,
    description: 'Categories a customer is interested in at a time, each with a preferred brand.',
    reason: 'A few interests per customer make the history predictive.',
  },
  interestProbability: {
    default: 0.8,
    unit: 'probability per session',
    min: 0,
    max: 1,
    description: 'Chance that a session is about one of the customer\'s interests rather than a category drawn by popularity.',
    reason: 'Mostly predictable, with exploration.',
  },
  interestDriftProbability: {
    default: 0.15,
    unit: 'probability per session',
    min: 0,
    max: 1,
    description: 'Chance that, before a session, one interest is replaced by a new category drawn by popularity.',
    reason: 'Interests drift, so recent history predicts better than old history.',
  },
  brandLoyalty: {
    default: 0.6,
    unit: 'probability per item draw',
    min: 0,
    max: 1,
    description: 'Chance that an item is drawn from the preferred brand (the interest\'s brand, or the purchased item\'s brand for a complement) when the subcategory has items of it.',
    reason: 'Brand preference is strong but not exclusive.',
  },
  complementProbability: {
    default: 0.5,
    unit: 'probability per trigger',
    min: 0,
    max: 1,
    description: 'Chance that the last purchase of a checkout, when its subcategory has complements, is followed at once by a view of a complement (case after phone).',
    reason: 'The planted sequential pattern: strong enough to measure on 10k customers, weak enough to leave room for the other signals.',
  },
  complementGapSeconds: {
    default: 60,
    unit: 'seconds',
    min: 1,
    max: 86_400,
    description: 'Mean gap between a purchase and the complement view that follows it (1 + exponential).',
    reason: 'The shopper goes on from the order confirmation page.',
  },
  repurchaseProbability: {
    default: 0.6,
    unit: 'probability per purchase',
    min: 0,
    max: 1,
    description: 'Chance that a purchase of a consumable is bought again after its subcategory\'s interval (+-30%).',
    reason: 'Most buyers of coffee, diapers or cat litter come back for the same item.',
  },
} as const satisfies Record<string, ParameterSpec>;

export type ParameterName = keyof typeof PARAMETER_SPECS;

/** All generator parameters: `start` is an ISO-8601 time, and every other parameter is a number. */
export type SynthParameters = {
  [K in ParameterName]: (typeof PARAMETER_SPECS)[K]['default'] extends string ? string : number;
};

/** Events in one file must stay below this, because a file's sort key is time x 2^28 + event position. */
export const MAX_EVENTS_PER_FILE = 2 ** 28;

/** Returns the default parameters. */
export function defaultParameters(): SynthParameters {
  const parameters: Record<string, number | string> = {};
  for (const [name, spec] of Object.entries(PARAMETER_SPECS)) parameters[name] = spec.default;
  return parameters as SynthParameters;
}

/**
 * Returns the defaults overridden by `overrides`, after checking every value against its
 * bounds. Throws on an unknown name or an invalid value, naming both and the valid range.
 */
export function resolveParameters(overrides: Record<string, unknown> = {}): SynthParameters {
  const parameters = defaultParameters() as Record<string, number | string>;

  for (const [name, value] of Object.entries(overrides)) {
    if (!(name in PARAMETER_SPECS)) {
      const known = Object.keys(PARAMETER_SPECS).join(', ');
      throw new Error(`unknown generator parameter "${name}"; known parameters: ${known}`);
    }
    parameters[name] = value as number | string;
  }

  for (const [name, spec] of Object.entries(PARAMETER_SPECS) as Array<[string, ParameterSpec]>) {
    validateParameter(name, parameters[name], spec);
  }

  const resolved = parameters as SynthParameters;
  validateRelations(resolved);
  return resolved;
}

function validateParameter(name: string, value: unknown, spec: ParameterSpec): void {
  if (typeof spec.default === 'string') {
    if (typeof value !== 'string' || !Number.isFinite(Date.parse(value))) {
      throw new Error(`${name} must be an ISO-8601 time such as ${spec.default}, got ${JSON.stringify(value)}`);
    }
    return;
  }

  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`${name} must be a number (${spec.unit}), got ${JSON.stringify(value)}`);
  }
  if (spec.integer === true && !Number.isInteger(value)) {
    throw new Error(`${name} must be an integer (${spec.unit}), got ${value}`);
  }
  if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
    throw new Error(`${name} must be between ${spec.min} and ${spec.max} (${spec.unit}), got ${value}`);
  }
}

function validateRelations(parameters: SynthParameters): void {
  if (parameters.minBrandsPerSubcategory > parameters.maxBrandsPerSubcategory) {
    throw new Error(
      `minBrandsPerSubcategory (${parameters.minBrandsPerSubcategory}) exceeds maxBrandsPerSubcategory (${parameters.maxBrandsPerSubcategory}); lower the first or raise the second`,
    );
  }
  if (parameters.maxBrandsPerSubcategory > parameters.brandsPerProductLine) {
    throw new Error(
      `maxBrandsPerSubcategory (${parameters.maxBrandsPerSubcategory}) exceeds brandsPerProductLine (${parameters.brandsPerProductLine}); a subcategory draws its brands from its product line`,
    );
  }

  const eventsPerFile = parameters.customersPerFile * parameters.maxEventsPerCustomer;
  if (eventsPerFile >= MAX_EVENTS_PER_FILE) {
    throw new Error(
      `customersPerFile x maxEventsPerCustomer = ${eventsPerFile} must stay below 2^28 = ${MAX_EVENTS_PER_FILE}; lower customersPerFile`,
    );
  }
}
