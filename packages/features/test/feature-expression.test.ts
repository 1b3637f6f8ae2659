import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatasetConfig, type FeatureConfig } from '@mcm/schema';
import { DuckDBSession } from '../src/duckdb-session.ts';
import { featureExpression } from '../src/feature-expression.ts';
import { temporaryDirectory } from './helpers.ts';

let session: DuckDBSession;

beforeAll(async () => {
  session = await DuckDBSession.open({ memoryLimit: '256MB', threads: 1, temporaryDirectory: await temporaryDirectory('mcm-duckdb-') });
});

afterAll(async () => {
  await session.close();
});

/** Returns the features of a config whose category path is the event column `path` and whose tags are `|`-separated. */
function features(): FeatureConfig[] {
  return parseDatasetConfig({
    name: 'expressions',
    events: { path: 'x.csv', customer: 'c', item: 'i', time: { column: 't', format: 'iso' } },
    categoryPath: { column: 'path' },
    brand: { column: 'brand' },
    features: [
      'product_line',
      'category',
      'subcategory',
      { name: 'tags', from: 'event', column: 'tags', kind: 'multi', delimiter: '|' },
      { name: 'attributes', from: 'event', column: 'attributes', kind: 'multi' },
    ],
  }).features;
}

/** Evaluates a feature's expression on `value` (a SQL literal) with DuckDB. */
async function evaluate(feature: FeatureConfig, value: string): Promise<unknown> {
  const row = await session.row(`SELECT ${featureExpression(feature, 'input')} AS value FROM (SELECT ${value} AS input)`);
  return row.value;
}

describe('featureExpression', () => {
  it('splits a category path into levels', async () => {
    const [productLine, category, subcategory] = features();
    const path = `'electronics.smartphone.case'`;

    expect(await evaluate(productLine!, path)).toBe('electronics');
    expect(await evaluate(category!, path)).toBe('electronics.smartphone');
    expect(await evaluate(subcategory!, path)).toBe('electronics.smartphone.case');
  });

  it('keeps deeper path levels out of the subcategory', async () => {
    const subcategory = features()[2]!;

    expect(await evaluate(subcategory, `'electronics.audio.headphone.wireless'`)).toBe('electronics.audio.headphone');
  });

  it('marks missing path levels', async () => {
    const [productLine, category, subcategory] = features();

    expect(await evaluate(subcategory!, `'appliances.kitchen'`)).toBe('<missing>');
    expect(await evaluate(category!, `'appliances'`)).toBe('<missing>');
    expect(await evaluate(productLine!, `''`)).toBe('<missing>');
    expect(await evaluate(productLine!, 'CAST(NULL AS VARCHAR)')).toBe('<missing>');
    expect(await evaluate(category!, `'appliances.'`)).toBe('<missing>');
  });

  it('splits delimited multi values', async () => {
    const tags = features()[3]!;

    expect(await evaluate(tags, `'Comedy|Romance'`)).toEqual(['Comedy', 'Romance']);
    expect(await evaluate(tags, `'Comedy||Drama|'`)).toEqual(['Comedy', 'Drama']);
    expect(await evaluate(tags, `''`)).toEqual(['<missing>']);
    expect(await evaluate(tags, 'CAST(NULL AS VARCHAR)')).toEqual(['<missing>']);
  });

  it('reads list values as text', async () => {
    const attributes = features()[4]!;

    expect(await evaluate(attributes, '[3, 1]')).toEqual(['3', '1']);
    expect(await evaluate(attributes, 'CAST([] AS INTEGER[])')).toEqual(['<missing>']);
  });
});
