import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { buildCatalog, type Catalog } from './catalog.ts';
import { EVENT_TYPES } from './event-types.ts';
import { EVENTS_FILE_PATTERN, SUMMARY_FILE, type GeneratorSummary } from './generate.ts';
import { createStreamRandom, STREAM_CATALOG } from './seeds.ts';

/** One customer's events in file order, which is time order. */
export interface CustomerSequence {
  customerId: string;
  /** Epoch seconds. */
  time: number[];
  /** Event type codes, see EVENT_TYPES. */
  type: number[];
  /** Item indexes in the catalog. */
  item: number[];
}

/** Reads generator.json and rebuilds the catalog it describes, including what catalog.csv.gz leaves empty. */
export async function readGeneratorOutput(dir: string): Promise<{ summary: GeneratorSummary; catalog: Catalog }> {
  const summary = JSON.parse(await readFile(join(dir, SUMMARY_FILE), 'utf8')) as GeneratorSummary;
  const catalog = buildCatalog(summary.parameters, createStreamRandom(summary.parameters.seed, STREAM_CATALOG, 0));
  return { summary, catalog };
}

/**
 * Reads every events file of a generator output into per-customer sequences.
 * NOTE: it keeps all events in memory (about 100 bytes each), so it suits samples of up
 * to a few hundred thousand customers, as the tests and the measurement script use.
 */
export async function readCustomerSequences(dir: string, catalog: Catalog): Promise<CustomerSequence[]> {
  const itemIndex = new Map(catalog.itemIds.map((id, item) => [id, item]));
  const typeIndex = new Map<string, number>(EVENT_TYPES.map((name, code) => [name, code]));
  const files = (await readdir(dir)).filter((name) => EVENTS_FILE_PATTERN.test(name)).sort();
  const sequences = new Map<string, CustomerSequence>();

  for (const file of files) {
    const lines = createInterface({ input: createReadStream(join(dir, file)).pipe(createGunzip()), crlfDelay: Infinity });
    let header = true;
    for await (const line of lines) {
      if (header) {
        header = false;
        continue;
      }
      const [customerId, time, type, item] = line.split(',');
      const typeCode = typeIndex.get(type!);
      const itemCode = itemIndex.get(item!);
      if (typeCode === undefined || itemCode === undefined) {
        throw new Error(`${file}: line "${line}" has an unknown event type or item id`);
      }

      let sequence = sequences.get(customerId!);
      if (sequence === undefined) {
        sequence = { customerId: customerId!, time: [], type: [], item: [] };
        sequences.set(customerId!, sequence);
      }
      sequence.time.push(Number(time));
      sequence.type.push(typeCode);
      sequence.item.push(itemCode);
    }
  }
  return Array.from(sequences.values());
}
