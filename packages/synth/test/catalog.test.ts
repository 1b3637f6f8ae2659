import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCustomerSequences, readGeneratorOutput } from '../src/index.ts';
import { generateSample, type Sample } from './sample.ts';

interface CatalogRow {
  itemId: string;
  productLine: string;
  category: string;
  subcategory: string;
  brand: string;
  categoryPath: string;
}

describe('catalog', () => {
  let sample: Sample;
  let header = '';
  const rows: CatalogRow[] = [];

  beforeAll(async () => {
    sample = await generateSample(1_000, { seed: 11 });
    const lines = createInterface({ input: createReadStream(join(sample.dir, 'catalog.csv.gz')).pipe(createGunzip()), crlfDelay: Infinity });
    for await (const line of lines) {
      if (header === '') {
        header = line;
        continue;
      }
      const [itemId, productLine, category, subcategory, brand, categoryPath] = line.split(',');
      rows.push({ itemId: itemId!, productLine: productLine!, category: category!, subcategory: subcategory!, brand: brand!, categoryPath: categoryPath! });
    }
  });

  afterAll(async () => {
    await sample?.remove();
  });

  it('has one row per item with unique ids', () => {
    expect(header).toBe('item_id,product_line,category,subcategory,brand,category_path');
    expect(rows).toHaveLength(20_000);
    expect(new Set(rows.map((row) => row.itemId)).size).toBe(20_000);
  });

  it('tree gives each node one parent', () => {
    const categoryOf = new Map<string, Set<string>>();
    const productLineOf = new Map<string, Set<string>>();
    const add = (map: Map<string, Set<string>>, key: string, value: string): void => {
      if (!map.has(key)) map.set(key, new Set());
      map.get(key)!.add(value);
    };
    for (const row of rows) {
      if (row.subcategory === '') continue;
      add(categoryOf, row.subcategory, row.category);
      add(productLineOf, row.subcategory, row.productLine);
    }

    const manyCategories = [...categoryOf].filter(([, parents]) => parents.size !== 1).map(([name]) => name);
    const manyProductLines = [...productLineOf].filter(([, parents]) => parents.size !== 1).map(([name]) => name);
    expect(manyCategories).toEqual([]);
    expect(manyProductLines).toEqual([]);
    expect(categoryOf.size).toBe(sample.summary.counts.subcategories);
    expect(sample.summary.counts.productLines).toBeGreaterThanOrEqual(10);
  });

  it('category path joins the three levels', () => {
    const mismatched = rows.filter(
      (row) => row.categoryPath !== '' && row.categoryPath !== `${row.productLine}.${row.category}.${row.subcategory}`,
    );
    expect(mismatched.slice(0, 3)).toEqual([]);
    expect(rows.find((row) => row.categoryPath === 'electronics.smartphone.phone_case')).toBeDefined();
  });

  it('a few brands and paths are missing', () => {
    const withoutBrand = rows.filter((row) => row.brand === '').length;
    const withoutPath = rows.filter((row) => row.categoryPath === '');

    // missingBrandFraction 0.03 and missingCategoryFraction 0.01 of 20000 items.
    expect(withoutBrand).toBeGreaterThan(450);
    expect(withoutBrand).toBeLessThan(750);
    expect(withoutPath.length).toBeGreaterThan(130);
    expect(withoutPath.length).toBeLessThan(270);
    expect(withoutPath.every((row) => row.productLine === '' && row.category === '' && row.subcategory === '')).toBe(true);
    expect(withoutBrand).toBe(sample.summary.counts.itemsWithoutBrand);
  });

  it('brands per subcategory stay within bounds', () => {
    const brandsOf = new Map<string, Set<string>>();
    for (const row of rows) {
      if (row.subcategory === '' || row.brand === '') continue;
      if (!brandsOf.has(row.subcategory)) brandsOf.set(row.subcategory, new Set());
      brandsOf.get(row.subcategory)!.add(row.brand);
    }
    const sizes = [...brandsOf.values()].map((brands) => brands.size);

    // Between minBrandsPerSubcategory 3 and maxBrandsPerSubcategory 12, fewer where a small subcategory's items miss a brand.
    expect(Math.max(...sizes)).toBeLessThanOrEqual(12);
    expect(sizes.filter((size) => size >= 3).length / sizes.length).toBeGreaterThan(0.8);
  });

  it('item popularity is Zipf-like', async () => {
    const { catalog } = await readGeneratorOutput(sample.dir);
    const sequences = await readCustomerSequences(sample.dir, catalog);
    const counts = new Map<number, number>();
    for (const sequence of sequences) for (const item of sequence.item) counts.set(item, (counts.get(item) ?? 0) + 1);
    const sorted = [...counts.values()].sort((a, b) => b - a);
    const total = sorted.reduce((sum, count) => sum + count, 0);
    const top1Percent = sorted.slice(0, 200).reduce((sum, count) => sum + count, 0);

    // The top 1% of the catalog (200 items) takes a far larger share of events than 1%.
    expect(top1Percent / total).toBeGreaterThan(0.15);
    expect(counts.size).toBeLessThan(20_000);
  });
});
