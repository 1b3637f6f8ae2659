import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ingest, SHARED_DATA } from './helpers.ts';

const DATASETS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../datasets');

async function datasetConfig(name: string): Promise<unknown> {
  return JSON.parse(await readFile(resolve(DATASETS, `${name}.json`), 'utf8'));
}

// The counts below were measured on the shared copies of the datasets, and the
// REES46 and ML-1M ones agree with the counts their READMEs give.
describe.skipIf(!existsSync(SHARED_DATA))('ingest of real datasets', () => {
  it('reads the REES46 head with all MCM features', async () => {
    const { manifest } = await ingest(await datasetConfig('rees46_multicategory_head'), { dataRoot: SHARED_DATA });

    expect(manifest.rowsRead).toBe(17_434);
    expect(manifest.rejectedRows).toBe(0);
    expect(manifest.duplicateRows).toBe(5);
    expect(manifest.events).toBe(17_429);
    expect(manifest.customers).toBe(4_504);
    expect(manifest.vocabularies).toEqual({ product_line: 16, category: 54, subcategory: 79, brand: 790, event_type: 5, item: 5_438 });
    expect(manifest.splitEvents).toEqual({ train: 13_880, validation: 1_691, test: 1_858 });
  });

  it('reproduces the ML-1M 5-core counts', async () => {
    const { manifest } = await ingest(await datasetConfig('ml-1m-5core'), { dataRoot: SHARED_DATA });

    // SASRec and BERT4Rec: 6,040 users, 3,416 items, 999,611 ratings.
    expect(manifest.customers).toBe(6_040);
    expect(manifest.rowsRead - manifest.filteredEvents!).toBe(999_611);
    expect(manifest.vocabularies.item).toBe(3_416 + 2);
    expect(manifest.splitEvents.test).toBe(6_040);
    expect(manifest.splitEvents.validation).toBe(6_040);
  });
});
