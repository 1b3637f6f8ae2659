import type { Random } from '@mcm/common';
import { AliasTable, zipfWeights } from './alias-table.ts';
import { createBrandNames } from './brand-names.ts';
import type { SynthParameters } from './parameters.ts';
import { COMPLEMENT_RULES, CONSUMABLE_RULES, TAXONOMY, type TaxonomyNode } from './taxonomy.ts';

/** Every subcategory gets at least this many items, so each has a choice of brands. */
const MIN_ITEMS_PER_SUBCATEGORY = 3;

/** Log-normal spread of the subcategories' shares of the items: some subcategories are much larger than others. */
const ITEM_SHARE_SIGMA = 0.8;

/** Items of one subcategory (or of one brand in it), drawn by their Zipf popularity. */
export interface ItemPool {
  items: Int32Array;
  sampler: AliasTable;
}

/** Complement subcategories of one subcategory, drawn with weights proportional to 1/j. */
export interface ComplementSet {
  subcategories: Int32Array;
  /** Probability of each entry of `subcategories`. */
  weights: Float64Array;
  sampler: AliasTable;
}

/**
 * The generated catalog: the taxonomy, brands, items and every sampler the customer
 * simulation draws from. All indexes are dense integers, and names are for output only.
 */
export interface Catalog {
  productLines: string[];
  categories: string[];
  subcategories: string[];
  brands: string[];

  /** [categories] product line of each category. */
  categoryProductLine: Int32Array;
  /** [subcategories] category of each subcategory. */
  subcategoryCategory: Int32Array;
  /** [categories] the subcategories of each category, in popularity order. */
  categorySubcategories: Int32Array[];

  /** [categories] global probability of a category: p(product line) x p(category | product line). */
  categoryProbability: Float64Array;
  /** [subcategories] global probability of a subcategory: p(category) x p(subcategory | category). */
  subcategoryProbability: Float64Array;
  categorySampler: AliasTable;
  /** [categories] draws a position in categorySubcategories[category]. */
  subcategorySamplers: AliasTable[];

  /** [items] the id written to the files, "i" followed by a number. */
  itemIds: string[];
  itemSubcategory: Int32Array;
  itemBrand: Int32Array;
  /** [items] 1 where catalog.csv.gz leaves the brand empty. */
  itemBrandMissing: Uint8Array;
  /** [items] 1 where catalog.csv.gz leaves product line, category, subcategory and path empty. */
  itemCategoryMissing: Uint8Array;

  /** [subcategories] all items of the subcategory. */
  subcategoryItems: ItemPool[];
  /** [subcategories] brand index -> the subcategory's items of that brand. */
  subcategoryBrandItems: Array<Map<number, ItemPool>>;
  /** [subcategories] brands of the subcategory weighted by their items' popularity. */
  subcategoryBrands: Array<{ brands: Int32Array; sampler: AliasTable }>;

  /** [subcategories] complements, or null where a purchase plants nothing. */
  complements: Array<ComplementSet | null>;
  /** [subcategories] days until a consumable is bought again, 0 where it is not a consumable. */
  repurchaseIntervalDays: Float64Array;
}

/** Builds the catalog from the fixed taxonomy and the parameters, drawing from `random`. */
export function buildCatalog(parameters: SynthParameters, random: Random): Catalog {
  const tree = flattenTaxonomy(TAXONOMY, parameters.categoryZipfExponent);
  const brandPools = createBrandPools(tree.productLines.length, parameters.brandsPerProductLine, random);
  const brands = brandPools.names;

  const subcategoryBrandLists = tree.subcategories.map((_, subcategory) => {
    const productLine = tree.categoryProductLine[tree.subcategoryCategory[subcategory]!]!;
    const span = parameters.maxBrandsPerSubcategory - parameters.minBrandsPerSubcategory + 1;
    const count = parameters.minBrandsPerSubcategory + random.int(span);
    return random.shuffle([...brandPools.byProductLine[productLine]!]).slice(0, count);
  });

  const items = createItems(tree.subcategories.length, subcategoryBrandLists, parameters, random);
  const pools = createItemPools(tree.subcategories.length, items, parameters.itemZipfExponent);

  return {
    productLines: tree.productLines,
    categories: tree.categories,
    subcategories: tree.subcategories,
    brands,
    categoryProductLine: tree.categoryProductLine,
    subcategoryCategory: tree.subcategoryCategory,
    categorySubcategories: tree.categorySubcategories,
    categoryProbability: tree.categoryProbability,
    subcategoryProbability: tree.subcategoryProbability,
    categorySampler: new AliasTable(tree.categoryProbability),
    subcategorySamplers: tree.categorySubcategories.map(
      (members) => new AliasTable(Array.from(members, (subcategory) => tree.subcategoryProbability[subcategory]!)),
    ),
    itemIds: items.ids,
    itemSubcategory: items.subcategory,
    itemBrand: items.brand,
    itemBrandMissing: items.brandMissing,
    itemCategoryMissing: items.categoryMissing,
    subcategoryItems: pools.all,
    subcategoryBrandItems: pools.byBrand,
    subcategoryBrands: pools.brands,
    complements: createComplementSets(tree.subcategories),
    repurchaseIntervalDays: createRepurchaseIntervals(tree.subcategories),
  };
}

/** Returns the dotted path product_line.category.subcategory of a subcategory. */
export function categoryPath(catalog: Catalog, subcategory: number): string {
  const category = catalog.subcategoryCategory[subcategory]!;
  const productLine = catalog.categoryProductLine[category]!;
  return `${catalog.productLines[productLine]}.${catalog.categories[category]}.${catalog.subcategories[subcategory]}`;
}

interface FlatTaxonomy {
  productLines: string[];
  categories: string[];
  subcategories: string[];
  categoryProductLine: Int32Array;
  subcategoryCategory: Int32Array;
  categorySubcategories: Int32Array[];
  categoryProbability: Float64Array;
  subcategoryProbability: Float64Array;
}

function flattenTaxonomy(taxonomy: readonly TaxonomyNode[], exponent: number): FlatTaxonomy {
  const productLines: string[] = [];
  const categories: string[] = [];
  const subcategories: string[] = [];
  const categoryProductLine: number[] = [];
  const subcategoryCategory: number[] = [];
  const categorySubcategories: Int32Array[] = [];
  const categoryProbability: number[] = [];
  const subcategoryProbability: number[] = [];

  const lineWeights = normalise(zipfWeights(taxonomy.length, exponent));
  taxonomy.forEach((lineNode, lineIndex) => {
    productLines.push(lineNode.name);
    const categoryWeights = normalise(zipfWeights(lineNode.children.length, exponent));

    lineNode.children.forEach((categoryNode, categoryRank) => {
      const category = categories.length;
      const pCategory = lineWeights[lineIndex]! * categoryWeights[categoryRank]!;
      categories.push(categoryNode.name);
      categoryProductLine.push(lineIndex);
      categoryProbability.push(pCategory);

      const subcategoryWeights = normalise(zipfWeights(categoryNode.children.length, exponent));
      const members: number[] = [];
      categoryNode.children.forEach((subcategoryNode, subcategoryRank) => {
        members.push(subcategories.length);
        subcategories.push(subcategoryNode.name);
        subcategoryCategory.push(category);
        subcategoryProbability.push(pCategory * subcategoryWeights[subcategoryRank]!);
      });
      categorySubcategories.push(Int32Array.from(members));
    });
  });

  assertUniqueNames([...productLines, ...categories, ...subcategories]);
  return {
    productLines,
    categories,
    subcategories,
    categoryProductLine: Int32Array.from(categoryProductLine),
    subcategoryCategory: Int32Array.from(subcategoryCategory),
    categorySubcategories,
    categoryProbability: Float64Array.from(categoryProbability),
    subcategoryProbability: Float64Array.from(subcategoryProbability),
  };
}

function createBrandPools(
  productLineCount: number,
  brandsPerProductLine: number,
  random: Random,
): { names: string[]; byProductLine: number[][] } {
  const names = createBrandNames(productLineCount * brandsPerProductLine, random);
  const byProductLine: number[][] = [];
  for (let line = 0; line < productLineCount; line++) {
    const pool: number[] = [];
    for (let i = 0; i < brandsPerProductLine; i++) pool.push(line * brandsPerProductLine + i);
    byProductLine.push(pool);
  }
  return { names, byProductLine };
}

interface ItemColumns {
  ids: string[];
  subcategory: Int32Array;
  brand: Int32Array;
  /** [items] rank of the item within its subcategory, 1 = most popular. */
  rank: Int32Array;
  brandMissing: Uint8Array;
  categoryMissing: Uint8Array;
}

function createItems(
  subcategoryCount: number,
  subcategoryBrandLists: number[][],
  parameters: SynthParameters,
  random: Random,
): ItemColumns {
  const counts = splitItems(parameters.items, subcategoryCount, random);
  const total = parameters.items;
  const columns: ItemColumns = {
    ids: new Array<string>(total),
    subcategory: new Int32Array(total),
    brand: new Int32Array(total),
    rank: new Int32Array(total),
    brandMissing: new Uint8Array(total),
    categoryMissing: new Uint8Array(total),
  };

  // Ids are a shuffled numbering, so neighbouring ids carry no information about the subcategory.
  const idNumbers = random.shuffle(Array.from({ length: total }, (_, i) => i + 1));

  let item = 0;
  for (let subcategory = 0; subcategory < subcategoryCount; subcategory++) {
    const brandList = subcategoryBrandLists[subcategory]!;
    const brandSampler = new AliasTable(zipfWeights(brandList.length, parameters.brandZipfExponent));

    for (let rank = 1; rank <= counts[subcategory]!; rank++) {
      columns.ids[item] = `i${idNumbers[item]}`;
      columns.subcategory[item] = subcategory;
      columns.brand[item] = brandList[brandSampler.sample(random)]!;
      columns.rank[item] = rank;
      columns.brandMissing[item] = random.next() < parameters.missingBrandFraction ? 1 : 0;
      columns.categoryMissing[item] = random.next() < parameters.missingCategoryFraction ? 1 : 0;
      item++;
    }
  }
  return columns;
}

/** Splits `total` items over the subcategories: a minimum each, the rest by log-normal shares. */
function splitItems(total: number, subcategoryCount: number, random: Random): Int32Array {
  const minimum = MIN_ITEMS_PER_SUBCATEGORY * subcategoryCount;
  if (total < minimum) {
    throw new Error(`items must be at least ${minimum} (${MIN_ITEMS_PER_SUBCATEGORY} per subcategory), got ${total}`);
  }

  const shares = Array.from({ length: subcategoryCount }, () => Math.exp(ITEM_SHARE_SIGMA * random.normal()));
  const shareTotal = shares.reduce((sum, share) => sum + share, 0);
  const counts = new Int32Array(subcategoryCount);
  const rest = total - minimum;
  let assigned = 0;
  for (let i = 0; i < subcategoryCount; i++) {
    counts[i] = MIN_ITEMS_PER_SUBCATEGORY + Math.floor((rest * shares[i]!) / shareTotal);
    assigned += counts[i]!;
  }

  // Rounding down leaves a few items over, which go to the subcategories in turn.
  for (let i = 0; assigned < total; i = (i + 1) % subcategoryCount) {
    counts[i]!++;
    assigned++;
  }
  return counts;
}

function createItemPools(
  subcategoryCount: number,
  items: ItemColumns,
  itemZipfExponent: number,
): { all: ItemPool[]; byBrand: Array<Map<number, ItemPool>>; brands: Array<{ brands: Int32Array; sampler: AliasTable }> } {
  const members: number[][] = Array.from({ length: subcategoryCount }, () => []);
  for (let item = 0; item < items.subcategory.length; item++) members[items.subcategory[item]!]!.push(item);

  const weightOf = (item: number): number => items.rank[item]! ** -itemZipfExponent;
  const poolOf = (list: number[]): ItemPool => ({
    items: Int32Array.from(list),
    sampler: new AliasTable(list.map(weightOf)),
  });

  const all = members.map(poolOf);
  const byBrand = members.map((list) => {
    const groups = new Map<number, number[]>();
    for (const item of list) {
      const brand = items.brand[item]!;
      if (!groups.has(brand)) groups.set(brand, []);
      groups.get(brand)!.push(item);
    }
    return new Map(Array.from(groups, ([brand, group]) => [brand, poolOf(group)] as const));
  });
  const brands = byBrand.map((groups) => {
    const brandList = Array.from(groups.keys());
    const weights = brandList.map((brand) => groups.get(brand)!.items.reduce((sum, item) => sum + weightOf(item), 0));
    return { brands: Int32Array.from(brandList), sampler: new AliasTable(weights) };
  });

  return { all, byBrand, brands };
}

function createComplementSets(subcategories: string[]): Array<ComplementSet | null> {
  const index = new Map(subcategories.map((name, i) => [name, i]));
  const sets: Array<ComplementSet | null> = subcategories.map(() => null);

  for (const rule of COMPLEMENT_RULES) {
    const members = [rule.subcategory, ...rule.complements].map((name) => {
      const found = index.get(name);
      if (found === undefined) throw new Error(`complement rule names unknown subcategory "${name}"; fix COMPLEMENT_RULES`);
      return found;
    });
    const raw = rule.complements.map((_, j) => 1 / (j + 1));
    const weights = normalise(Float64Array.from(raw));
    sets[members[0]!] = {
      subcategories: Int32Array.from(members.slice(1)),
      weights,
      sampler: new AliasTable(weights),
    };
  }
  return sets;
}

function createRepurchaseIntervals(subcategories: string[]): Float64Array {
  const index = new Map(subcategories.map((name, i) => [name, i]));
  const intervals = new Float64Array(subcategories.length);
  for (const rule of CONSUMABLE_RULES) {
    const found = index.get(rule.subcategory);
    if (found === undefined) throw new Error(`consumable rule names unknown subcategory "${rule.subcategory}"; fix CONSUMABLE_RULES`);
    intervals[found] = rule.intervalDays;
  }
  return intervals;
}

function normalise(weights: Float64Array): Float64Array {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  return weights.map((weight) => weight / total);
}

function assertUniqueNames(names: string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new Error(`taxonomy name "${name}" occurs twice; names must be unique across levels`);
    seen.add(name);
  }
}
