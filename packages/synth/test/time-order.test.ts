import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSample, type Sample } from './sample.ts';

interface Row {
  customer: string;
  time: number;
  type: string;
}

async function readRows(path: string): Promise<{ header: string; rows: Row[] }> {
  const lines = createInterface({ input: createReadStream(path).pipe(createGunzip()), crlfDelay: Infinity });
  let header = '';
  const rows: Row[] = [];
  for await (const line of lines) {
    if (header === '') {
      header = line;
      continue;
    }
    const [customer, time, type] = line.split(',');
    rows.push({ customer: customer!, time: Number(time), type: type! });
  }
  return { header, rows };
}

describe('event time order', () => {
  let sample: Sample;
  const files: Array<{ header: string; rows: Row[] }> = [];

  beforeAll(async () => {
    sample = await generateSample(3_000, { seed: 5, customersPerFile: 1_500 });
    for (const file of sample.summary.files.events) files.push(await readRows(join(sample.dir, file.file)));
  });

  afterAll(async () => {
    await sample?.remove();
  });

  it('each file is in time order', () => {
    expect(files).toHaveLength(2);
    for (const { header, rows } of files) {
      expect(header).toBe('customer_id,timestamp,event_type,item_id');
      const backwards = rows.findIndex((row, i) => i > 0 && row.time < rows[i - 1]!.time);
      expect(backwards, `row ${backwards + 2} goes back in time`).toBe(-1);
    }
  });

  it('timestamps are epoch seconds in the range', () => {
    const start = Date.parse('2024-01-01T00:00:00Z') / 1000;
    const end = start + 90 * 86_400;
    const times = files.flatMap(({ rows }) => rows.map((row) => row.time));

    expect(times.filter((time) => !Number.isInteger(time))).toEqual([]);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(start);
    expect(Math.max(...times)).toBeLessThan(end);
  });

  it('customers are interleaved and in one file', () => {
    const fileOf = new Map<string, number>();
    files.forEach(({ rows }, index) => {
      let switches = 0;
      const inTwoFiles = new Set<string>();
      rows.forEach((row, i) => {
        if ((fileOf.get(row.customer) ?? index) !== index) inTwoFiles.add(row.customer);
        fileOf.set(row.customer, index);
        if (i > 0 && rows[i - 1]!.customer !== row.customer) switches++;
      });
      expect([...inTwoFiles], 'customers that appear in two files').toEqual([]);
      // A log grouped by customer switches once per customer (1500 here); an interleaved one at every session at least.
      expect(switches).toBeGreaterThan(5 * 1_500);
    });
    expect(fileOf.size).toBe(3_000);
  });

  it('ties within one second occur', () => {
    let sameCustomerTies = 0;
    let crossCustomerTies = 0;
    const tiedTypes = new Set<string>();
    for (const { rows } of files) {
      for (let i = 1; i < rows.length; i++) {
        if (rows[i]!.time !== rows[i - 1]!.time) continue;
        if (rows[i]!.customer === rows[i - 1]!.customer) {
          tiedTypes.add(rows[i - 1]!.type).add(rows[i]!.type);
          sameCustomerTies++;
        } else {
          crossCustomerTies++;
        }
      }
    }

    // Only the purchases of one checkout share a second within one customer.
    expect([...tiedTypes]).toEqual(['purchase']);
    expect(sameCustomerTies).toBeGreaterThan(0);
    expect(crossCustomerTies).toBeGreaterThan(0);
  });

  it('activity follows a daily cycle', () => {
    const byHour = new Array<number>(24).fill(0);
    for (const { rows } of files) for (const row of rows) byHour[new Date(row.time * 1000).getUTCHours()]!++;

    // diurnalAmplitude 0.6 puts the peak at 20:00 UTC and the trough at 08:00, about 4 : 1.
    expect(byHour[20]! / byHour[8]!).toBeGreaterThan(2.5);
  });
});
