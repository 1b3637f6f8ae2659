import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { startProgress, writeJsonAtomic, type Logger } from '@mcm/common';
import { buildCatalog, categoryPath, type Catalog } from './catalog.ts';
import { CustomerSimulator } from './customer-simulator.ts';
import { EventBuffer } from './event-buffer.ts';
import { EVENT_TYPES } from './event-types.ts';
import { GzipCsvWriter } from './gzip-csv-writer.ts';
import type { SynthParameters } from './parameters.ts';
import { predictPlantedPattern, type PlantedPatternPrediction } from './prediction.ts';
import { createStreamRandom, STREAM_CATALOG, STREAM_CUSTOMER } from './seeds.ts';

export const CATALOG_FILE = 'catalog.csv.gz';
export const SUMMARY_FILE = 'generator.json';
export const EVENTS_FILE_PATTERN = /^events-\d{5}\.csv\.gz$/;
export const CATALOG_HEADER = 'item_id,product_line,category,subcategory,brand,category_path';
export const EVENTS_HEADER = 'customer_id,timestamp,event_type,item_id';

/** Version of the output layout written to generator.json. */
export const OUTPUT_FORMAT_VERSION = 1;

/** Customers simulated between two progress updates. */
const PROGRESS_EVERY_CUSTOMERS = 2_000;

export interface GenerateOptions {
  parameters: SynthParameters;
  outDir: string;
  /** Replace an earlier generator output in `outDir` instead of failing. */
  overwrite?: boolean;
  /** Logger for the start and finish lines and the progress bar. Without it nothing is logged. */
  logger?: Logger;
  /** Called after each events file is complete, with that file's summary. */
  onFileWritten?: (file: EventsFileSummary) => void;
}

export interface EventsFileSummary {
  file: string;
  customers: number;
  events: number;
  /** Size of the gzip file on disk. */
  bytes: number;
  /** Size of the CSV text before compression. */
  uncompressedBytes: number;
}

/** The content of generator.json: everything needed to reproduce and to check the output. */
export interface GeneratorSummary {
  formatVersion: number;
  generator: string;
  parameters: SynthParameters;
  timestamp: { column: string; format: string; firstEpochSeconds: number; endEpochSeconds: number; endIso: string };
  counts: {
    customers: number;
    events: number;
    eventsByType: Record<string, number>;
    items: number;
    itemsWithoutBrand: number;
    itemsWithoutCategory: number;
    brands: number;
    productLines: number;
    categories: number;
    subcategories: number;
  };
  files: { catalog: string; events: EventsFileSummary[] };
  prediction: PlantedPatternPrediction;
}

/**
 * Generates the catalog, the events and generator.json into `outDir`, one events file
 * of customersPerFile customers at a time, so memory does not grow with the number of
 * customers. Returns the summary also written to generator.json.
 */
export async function generate(options: GenerateOptions): Promise<GeneratorSummary> {
  const { parameters, outDir, logger } = options;
  await prepareOutputDirectory(outDir, options.overwrite === true, logger);
  logger?.info({ outDir, customers: parameters.customers, seed: parameters.seed }, 'synth started');

  const catalog = buildCatalog(parameters, createStreamRandom(parameters.seed, STREAM_CATALOG, 0));
  await writeCatalog(join(outDir, CATALOG_FILE), catalog);

  const simulator = new CustomerSimulator(catalog, parameters);
  const buffer = new EventBuffer(Math.min(parameters.customersPerFile, parameters.customers) * 32);
  const eventsByType = new Float64Array(EVENT_TYPES.length);
  const files: EventsFileSummary[] = [];
  const progress = logger === undefined ? undefined : startProgress(logger, 'generate customers', parameters.customers, 'customers');
  let customersDone = 0;
  let eventsDone = 0;

  try {
    for (let first = 0; first < parameters.customers; first += parameters.customersPerFile) {
      const count = Math.min(parameters.customersPerFile, parameters.customers - first);
      buffer.clear();
      for (let local = 0; local < count; local++) {
        simulator.simulate(createStreamRandom(parameters.seed, STREAM_CUSTOMER, first + local), local, buffer);
        if ((local + 1) % PROGRESS_EVERY_CUSTOMERS === 0) progress?.update(customersDone + local + 1, { events: eventsDone + buffer.length });
      }

      const file = `events-${String(files.length).padStart(5, '0')}.csv.gz`;
      const summary = await writeEventsFile(join(outDir, file), buffer, first, count, catalog, parameters, eventsByType);
      files.push(summary);
      customersDone += count;
      eventsDone += summary.events;
      progress?.update(customersDone, { events: eventsDone });
      options.onFileWritten?.(summary);
    }
  } finally {
    progress?.stop();
  }

  const summary = summarise(parameters, catalog, files, eventsByType);
  await writeJsonAtomic(join(outDir, SUMMARY_FILE), summary);
  logger?.info(
    { outDir, customers: summary.counts.customers, events: summary.counts.events, files: files.length },
    'synth finished',
  );
  return summary;
}

/** Creates `outDir`, or clears an earlier generator output from it when `overwrite` is set. */
async function prepareOutputDirectory(outDir: string, overwrite: boolean, logger: Logger | undefined): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const earlier = (await readdir(outDir)).filter(
    (name) => name === CATALOG_FILE || name === SUMMARY_FILE || EVENTS_FILE_PATTERN.test(name),
  );
  if (earlier.length === 0) return;

  // Stale events files of a larger earlier run would be read by the ingest's glob, so they must go.
  if (!overwrite) {
    throw new Error(`${outDir} already contains generator output (${earlier[0]}, ...); pass --overwrite or choose another --out`);
  }
  for (const name of earlier) await rm(join(outDir, name));
  logger?.info({ outDir, removed: earlier.length }, 'removed earlier generator output');
}

async function writeCatalog(path: string, catalog: Catalog): Promise<void> {
  const writer = new GzipCsvWriter(path, CATALOG_HEADER);
  const paths = catalog.subcategories.map((_, subcategory) => categoryPath(catalog, subcategory));

  // Rows in ascending id number, the order a catalog export would list them.
  const byIdNumber = new Int32Array(catalog.itemIds.length);
  catalog.itemIds.forEach((id, item) => (byIdNumber[Number(id.slice(1)) - 1] = item));

  try {
    for (const item of byIdNumber) {
      const subcategory = catalog.itemSubcategory[item]!;
      const category = catalog.subcategoryCategory[subcategory]!;
      const brand = catalog.itemBrandMissing[item] === 1 ? '' : catalog.brands[catalog.itemBrand[item]!]!;
      const tree =
        catalog.itemCategoryMissing[item] === 1
          ? ',,'
          : `${catalog.productLines[catalog.categoryProductLine[category]!]},${catalog.categories[category]},${catalog.subcategories[subcategory]}`;
      const path = catalog.itemCategoryMissing[item] === 1 ? '' : paths[subcategory];
      const flushing = writer.writeLine(`${catalog.itemIds[item]},${tree},${brand},${path}`);
      if (flushing !== null) await flushing;
    }
    await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

/**
 * Writes one file's events in time order. Every customer has at least one event (the
 * first view of the first session), so the file holds all `customerCount` customers.
 */
async function writeEventsFile(
  path: string,
  buffer: EventBuffer,
  firstCustomer: number,
  customerCount: number,
  catalog: Catalog,
  parameters: SynthParameters,
  eventsByType: Float64Array,
): Promise<EventsFileSummary> {
  const order = buffer.sortByTime();
  const startEpochSeconds = Math.floor(Date.parse(parameters.start) / 1000);
  const writer = new GzipCsvWriter(path, EVENTS_HEADER);

  let uncompressedBytes: number;
  try {
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      const customer = buffer.customer[i]!;
      const item = buffer.item[i]!;
      const type = buffer.type[i]!;
      eventsByType[type]!++;

      const line = `c${firstCustomer + customer + 1},${startEpochSeconds + buffer.time[i]!},${EVENT_TYPES[type]},${catalog.itemIds[item]}`;
      const flushing = writer.writeLine(line);
      if (flushing !== null) await flushing;
    }
    uncompressedBytes = await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  }

  const { size } = await stat(path);
  return { file: basename(path), customers: customerCount, events: order.length, bytes: size, uncompressedBytes };
}

function summarise(
  parameters: SynthParameters,
  catalog: Catalog,
  files: EventsFileSummary[],
  eventsByType: Float64Array,
): GeneratorSummary {
  const startEpochSeconds = Math.floor(Date.parse(parameters.start) / 1000);
  const endEpochSeconds = startEpochSeconds + parameters.days * 86_400;
  const count = (flags: Uint8Array): number => flags.reduce((sum, flag) => sum + flag, 0);

  return {
    formatVersion: OUTPUT_FORMAT_VERSION,
    generator: 'mcm synth',
    parameters,
    timestamp: {
      column: 'timestamp',
      format: 'epoch seconds, UTC',
      firstEpochSeconds: startEpochSeconds,
      endEpochSeconds,
      endIso: new Date(endEpochSeconds * 1000).toISOString(),
    },
    counts: {
      customers: parameters.customers,
      events: files.reduce((sum, file) => sum + file.events, 0),
      eventsByType: Object.fromEntries(EVENT_TYPES.map((name, code) => [name, eventsByType[code]!])),
      items: catalog.itemIds.length,
      itemsWithoutBrand: count(catalog.itemBrandMissing),
      itemsWithoutCategory: count(catalog.itemCategoryMissing),
      brands: catalog.brands.length,
      productLines: catalog.productLines.length,
      categories: catalog.categories.length,
      subcategories: catalog.subcategories.length,
    },
    files: { catalog: CATALOG_FILE, events: files },
    prediction: predictPlantedPattern(catalog, parameters),
  };
}
