import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSample, type Sample } from './sample.ts';

async function readAll(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) files.set(name, await readFile(join(dir, name)));
  return files;
}

describe('generator determinism', () => {
  let first: Sample;
  let second: Sample;
  let otherSeed: Sample;

  beforeAll(async () => {
    // Two events files per run, so the file split is covered too.
    first = await generateSample(600, { seed: 7, customersPerFile: 300 });
    second = await generateSample(600, { seed: 7, customersPerFile: 300 });
    otherSeed = await generateSample(600, { seed: 8, customersPerFile: 300 });
  });

  afterAll(async () => {
    await Promise.all([first?.remove(), second?.remove(), otherSeed?.remove()]);
  });

  it('same seed gives byte-identical files', async () => {
    const a = await readAll(first.dir);
    const b = await readAll(second.dir);

    expect([...a.keys()]).toEqual(['catalog.csv.gz', 'events-00000.csv.gz', 'events-00001.csv.gz', 'generator.json']);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, bytes] of a) expect(bytes.equals(b.get(name)!), `${name} differs between two runs with seed 7`).toBe(true);
  });

  it('different seed gives different files', async () => {
    const a = await readAll(first.dir);
    const c = await readAll(otherSeed.dir);

    for (const name of ['catalog.csv.gz', 'events-00000.csv.gz', 'events-00001.csv.gz']) {
      expect(a.get(name)!.equals(c.get(name)!), `${name} is the same for seeds 7 and 8`).toBe(false);
    }
    expect(otherSeed.summary.counts.events).not.toBe(first.summary.counts.events);
  });

  it('generator.json records parameters and counts', async () => {
    const summary = JSON.parse(await readFile(join(first.dir, 'generator.json'), 'utf8'));

    expect(summary.parameters.seed).toBe(7);
    expect(summary.parameters.customers).toBe(600);
    expect(summary.counts.customers).toBe(600);
    expect(summary.files.events.map((file: { customers: number }) => file.customers)).toEqual([300, 300]);
    const byType = Object.values(summary.counts.eventsByType as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(byType).toBe(summary.counts.events);
  });
});
