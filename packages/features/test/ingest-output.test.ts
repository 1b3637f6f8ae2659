import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { basicConfig, hashDirectory, ingest, temporaryDirectory } from './helpers.ts';

/** A config over fixtures/bad/missing-customer.csv, whose 1 reject in 3 rows fails a 1% limit. */
const TOO_MANY_REJECTS = basicConfig({ maxRejectFraction: 0.01, split: { kind: 'fraction', train: 0.5, validation: 0.25 } }, 'bad/missing-customer.csv');

/** A config that names a column basic/events.csv does not have. */
const MISSING_COLUMN = basicConfig({
  events: {
    path: 'basic/events.csv',
    customer: 'customer_id',
    item: 'product_id',
    time: { column: 'event_time', format: 'iso' },
    eventType: { column: 'event_type' },
  },
});

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('ingest output directory', () => {
  it('keeps the previous output when rejects fail the run', async () => {
    const { outDir } = await ingest(basicConfig());
    const before = await hashDirectory(outDir);

    const run = ingest(TOO_MANY_REJECTS, { outDir });

    const failedRejects = join(outDir, 'failed', 'rejects.csv');
    await expect(run).rejects.toThrow(`Every rejected row is in ${failedRejects}`);
    expect(await hashDirectory(outDir)).toEqual({ ...before, 'failed/rejects.csv': expect.any(String) as string });
    expect((await readFile(failedRejects, 'utf8')).split('\n')[1]).toMatch(/^bad\/missing-customer\.csv,3,missing-customer,/);
  });

  it('keeps the previous output when a column is missing', async () => {
    const { outDir } = await ingest(basicConfig());
    const before = await hashDirectory(outDir);

    await expect(ingest(MISSING_COLUMN, { outDir })).rejects.toThrow('basic/events.csv has no column "customer_id"');

    expect(await hashDirectory(outDir)).toEqual(before);
    expect(await readdir(outDir)).toEqual(['manifest.json', 'shards', 'vocab']);
  });

  it('drops stale failed rejects after a failure without rejects', async () => {
    const { outDir } = await ingest(basicConfig());
    await expect(ingest(TOO_MANY_REJECTS, { outDir })).rejects.toThrow('were rejected');
    expect(await exists(join(outDir, 'failed', 'rejects.csv'))).toBe(true);

    await expect(ingest(MISSING_COLUMN, { outDir })).rejects.toThrow('has no column');

    expect(await exists(join(outDir, 'failed'))).toBe(false);
  });

  it('names the kept rejects in other errors', async () => {
    // The limit allows the 1 reject in 3 rows, and the filter then removes every customer.
    const outDir = await temporaryDirectory();
    const config = basicConfig({ maxRejectFraction: 1, split: { kind: 'leave-last-out' } }, 'bad/missing-customer.csv');
    const allRejected = { ...config, filter: { minCustomerEvents: 100 } };

    await expect(ingest(allRejected, { outDir })).rejects.toThrow(`The rows this run rejected are in ${join(outDir, 'failed', 'rejects.csv')}.`);
    expect(await exists(join(outDir, 'failed', 'rejects.csv'))).toBe(true);
    expect(await exists(join(outDir, 'manifest.json'))).toBe(false);
  });

  it('replaces the previous output on success', async () => {
    const { outDir } = await ingest(basicConfig({ shards: 2 }));
    await expect(ingest(TOO_MANY_REJECTS, { outDir })).rejects.toThrow('were rejected');
    await writeFile(join(outDir, 'notes.txt'), 'kept');

    const { manifest } = await ingest(basicConfig({ shards: 1 }), { outDir });

    expect(manifest.shards).toHaveLength(1);
    expect(await readdir(join(outDir, 'shards'))).toEqual([manifest.shards[0]!.file.replace('shards/', '')]);
    expect((await readdir(outDir)).sort()).toEqual(['manifest.json', 'notes.txt', 'shards', 'vocab']);
    expect(await readFile(join(outDir, 'notes.txt'), 'utf8')).toBe('kept');
  });

  it('creates a missing output directory', async () => {
    const outDir = join(await temporaryDirectory(), 'nested', 'out');

    await ingest(basicConfig(), { outDir });

    expect((await readdir(outDir)).sort()).toEqual(['manifest.json', 'shards', 'vocab']);
  });
});
