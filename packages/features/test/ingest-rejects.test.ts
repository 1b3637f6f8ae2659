import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { basicConfig, FIXTURES, ingest, temporaryDirectory } from './helpers.ts';

/** Returns a config over one file of fixtures/bad that tolerates its rejects. */
function badFileConfig(file: string, maxRejectFraction = 0.7): Record<string, unknown> {
  return basicConfig({ maxRejectFraction, split: { kind: 'fraction', train: 0.5, validation: 0.25 } }, `bad/${file}`);
}

/** Creates a data root with gzip files under events/: each name maps to its content, '' giving a gzip of nothing. */
async function gzipDataRoot(files: Record<string, string>): Promise<string> {
  const root = await temporaryDirectory('mcm-ingest-gzip-');
  await mkdir(join(root, 'events'));
  for (const [name, content] of Object.entries(files)) await writeFile(join(root, 'events', name), gzipSync(content));
  return root;
}

async function readRejectFile(outDir: string): Promise<string[]> {
  return (await readFile(join(outDir, 'rejects.csv'), 'utf8')).trimEnd().split('\n');
}

describe('ingest rejects', () => {
  it('quarantines a row without customer', async () => {
    const { outDir, manifest } = await ingest(badFileConfig('missing-customer.csv'));

    expect(manifest.rowsRead).toBe(3);
    expect(manifest.rejectedRows).toBe(1);
    expect(manifest.rejectsByReason).toEqual({ 'missing-customer': 1 });
    expect(manifest.events).toBe(2);
    expect(manifest.rejectFile).toBe('rejects.csv');
    expect(await readRejectFile(outDir)).toEqual([
      'file,line,reason,raw',
      'bad/missing-customer.csv,3,missing-customer,",2024-01-01 11:00:00,view,p2,electronics.smartphone,acme"',
    ]);
  });

  it('quarantines an unparseable timestamp', async () => {
    const { outDir, manifest } = await ingest(badFileConfig('unparseable-timestamp.csv'));

    expect(manifest.rejectsByReason).toEqual({ 'unparseable-timestamp': 1 });
    expect(manifest.events).toBe(2);
    expect(await readRejectFile(outDir)).toEqual([
      'file,line,reason,raw',
      'bad/unparseable-timestamp.csv,3,unparseable-timestamp,"u1,yesterday,view,p2,electronics.smartphone,acme"',
    ]);
  });

  it('quarantines lines with a wrong field count', async () => {
    const { outDir, manifest } = await ingest(badFileConfig('wrong-field-count.csv'));

    // Lines 3 and 4 break the CSV; line 5 parses but has no customer.
    expect(manifest.rowsRead).toBe(5);
    expect(manifest.rejectedRows).toBe(3);
    expect(manifest.rejectsByReason).toEqual({ 'missing-customer': 1, 'wrong-field-count': 2 });
    expect(manifest.events).toBe(2);
    expect(await readRejectFile(outDir)).toEqual([
      'file,line,reason,raw',
      'bad/wrong-field-count.csv,3,wrong-field-count,"u1,2024-01-01 11:00:00,view,p2,electronics.smartphone,acme,extra"',
      'bad/wrong-field-count.csv,4,wrong-field-count,"u1,2024-01-01 12:00:00,view"',
      'bad/wrong-field-count.csv,5,missing-customer,",2024-01-01 13:00:00,view,p3,electronics.smartphone,acme"',
    ]);
  });

  it('quarantines a line with non-UTF-8 bytes', async () => {
    const { outDir, manifest } = await ingest(badFileConfig('non-utf8.csv'));

    expect(manifest.rowsRead).toBe(3);
    expect(manifest.rejectsByReason).toEqual({ 'invalid-encoding': 1 });
    expect(manifest.events).toBe(2);
    const lines = await readRejectFile(outDir);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^bad\/non-utf8\.csv,3,invalid-encoding,"u1,2024-01-01 11:00:00,view,p2,electronics\.smartphone,caf/);
  });

  it('names each file of a glob', async () => {
    const { outDir, manifest } = await ingest(badFileConfig('{missing-customer,unparseable-timestamp,wrong-field-count}.csv'));

    expect(manifest.rowsRead).toBe(11);
    expect(manifest.rejectsByReason).toEqual({ 'missing-customer': 2, 'unparseable-timestamp': 1, 'wrong-field-count': 2 });
    expect((await readRejectFile(outDir)).map((line) => line.split(',').slice(0, 3).join(','))).toEqual([
      'file,line,reason',
      'bad/missing-customer.csv,3,missing-customer',
      'bad/unparseable-timestamp.csv,3,unparseable-timestamp',
      'bad/wrong-field-count.csv,3,wrong-field-count',
      'bad/wrong-field-count.csv,4,wrong-field-count',
      'bad/wrong-field-count.csv,5,missing-customer',
    ]);
  });

  it('skips an empty file among others', async () => {
    const config = basicConfig({ maxRejectFraction: 0.5, split: { kind: 'leave-last-out' } }, 'multi/*.csv');
    const { outDir, manifest } = await ingest(config);

    // multi/b.csv has no bytes at all, so the rows of multi/c.csv come after a gap in the file indexes.
    expect(manifest.rowsRead).toBe(3);
    expect(manifest.events).toBe(2);
    expect(await readRejectFile(outDir)).toEqual([
      'file,line,reason,raw',
      'multi/c.csv,3,missing-customer,",2024-01-03 10:00:00,view,p2,electronics.smartphone,acme"',
    ]);
  });

  it('fails on an empty gzip file alone', async () => {
    const dataRoot = await gzipDataRoot({ 'events-00000.csv.gz': '' });
    const run = ingest(basicConfig({}, 'events/*.csv.gz'), { dataRoot });

    await expect(run).rejects.toThrow('no events to write for test config: the only source file is empty');
    await expect(run).rejects.toThrow('events/events-00000.csv.gz (empty)');
    await expect(run).rejects.toThrow('Write the files again');
  });

  it('skips an empty gzip file among others', async () => {
    const events = await readFile(join(FIXTURES, 'basic/events.csv'), 'utf8');
    const dataRoot = await gzipDataRoot({ 'events-00000.csv.gz': '', 'events-00001.csv.gz': events });

    const { manifest } = await ingest(basicConfig({}, 'events/*.csv.gz'), { dataRoot });
    const { manifest: plain } = await ingest(basicConfig());

    expect(manifest.rowsRead).toBe(plain.rowsRead);
    expect(manifest.events).toBe(plain.events);
  });

  it('fails on an empty catalog', async () => {
    const events = await readFile(join(FIXTURES, 'basic/events.csv'), 'utf8');
    const dataRoot = await gzipDataRoot({ 'events-00000.csv.gz': events, 'catalog.csv.gz': '' });
    const config = basicConfig({ catalog: { path: 'events/catalog.csv.gz', itemKey: 'product_id' } }, 'events/events-*.csv.gz');

    await expect(ingest(config, { dataRoot })).rejects.toThrow('the catalog is empty: events/catalog.csv.gz has no content (catalog.path)');
  });

  it('fails above maxRejectFraction', async () => {
    const outDir = await temporaryDirectory();
    const run = ingest(badFileConfig('missing-customer.csv', 0.01), { outDir });

    await expect(run).rejects.toThrow('1 of 3 rows (33.3%) were rejected (missing-customer 1)');
    await expect(run).rejects.toThrow('maxRejectFraction 0.01 (1.0%) of test config');
    await expect(run).rejects.toThrow('bad/missing-customer.csv:3 missing-customer (the customer column is empty)');
    await expect(run).rejects.toThrow(`Every rejected row is in ${join(outDir, 'failed', 'rejects.csv')}`);
    await expect(run).rejects.toThrow('raise maxRejectFraction in the config');
    // The reject file is there to inspect, but no manifest marks the output complete.
    await expect(access(join(outDir, 'failed', 'rejects.csv'))).resolves.toBeUndefined();
    await expect(access(join(outDir, 'rejects.csv'))).rejects.toThrow();
    await expect(access(join(outDir, 'manifest.json'))).rejects.toThrow();
  });

  it('fails on a header-only file', async () => {
    const run = ingest(badFileConfig('header-only.csv'));

    await expect(run).rejects.toThrow('the source files contain no data rows (empty, or only a header)');
    await expect(run).rejects.toThrow('bad/header-only.csv (0 rows)');
  });

  it('names the glob and data root when nothing matches', async () => {
    const run = ingest(basicConfig({}, 'nowhere/*.csv'));

    await expect(run).rejects.toThrow(`events[0].path "nowhere/*.csv" matches no file under the data root ${FIXTURES}`);
    await expect(run).rejects.toThrow('--data-root');
  });

  it('names a missing column and the columns present', async () => {
    const config = basicConfig();
    (config.events as Record<string, unknown>).customer = 'customer_id';

    await expect(ingest(config)).rejects.toThrow(
      'basic/events.csv has no column "customer_id" (events[0].customer); its columns are: user_id, event_time, event_type, product_id, category_code, brand',
    );
  });

  it('rejects event types outside the allowed list', async () => {
    const config = basicConfig({ maxRejectFraction: 0.5 });
    (config.events as Record<string, unknown>).eventType = { column: 'event_type', allowed: ['view', 'purchase'] };
    const { outDir, manifest } = await ingest(config);

    expect(manifest.rejectsByReason).toEqual({ 'unknown-event-type': 1 });
    expect((await readRejectFile(outDir))[1]).toBe('basic/events.csv,9,unknown-event-type,"9,2024-01-06 12:00:00,cart,p5,,acme"');
  });
});
