import { join } from 'node:path';
import { writeJsonAtomic } from '@mcm/common';
import { MANIFEST_FORMAT_VERSION, manifestSchema, type DatasetConfig, type Manifest } from '@mcm/schema';

/** Everything the ingest measured, for the manifest. */
export interface IngestCounts {
  customers: number;
  events: number;
  rowsRead: number;
  rejectedRows: number;
  rejectsByReason: Record<string, number>;
  duplicateRows: number;
  filteredEvents: number;
  truncatedEvents: number;
  splitEvents: Manifest['splitEvents'];
}

/** Assembles the manifest, validates it against manifestSchema and writes `<outDir>/manifest.json`. */
export async function writeManifest(
  outDir: string,
  config: DatasetConfig,
  counts: IngestCounts,
  vocabularySizes: readonly number[],
  details: Pick<Manifest, 'split' | 'shards' | 'fingerprint' | 'rejectFile'>,
): Promise<Manifest> {
  const features = config.features.map((feature, i) => ({
    name: feature.name,
    kind: feature.kind,
    vocabularySize: vocabularySizes[i]!,
    task: feature.task,
  }));
  const orderOnly = config.events.every((source) => source.kind === 'customer-sequences' || source.time.format === 'order');

  const manifest: Manifest = {
    formatVersion: MANIFEST_FORMAT_VERSION,
    dataset: config.name,
    customers: counts.customers,
    events: counts.events,
    rowsRead: counts.rowsRead,
    rejectedRows: counts.rejectedRows,
    rejectsByReason: counts.rejectsByReason,
    duplicateRows: counts.duplicateRows,
    truncatedEvents: counts.truncatedEvents,
    filteredEvents: counts.filteredEvents,
    timeUnit: orderOnly ? 'position' : 'epoch-ms',
    features,
    vocabularies: Object.fromEntries(features.map((feature) => [feature.name, feature.vocabularySize])),
    tasks: features.filter((feature) => feature.task).map((feature) => feature.name),
    itemFeature: config.features.find((feature) => feature.from === 'item')?.name ?? null,
    split: details.split,
    splitEvents: counts.splitEvents,
    maxLength: config.maxLength,
    shards: details.shards,
    fingerprint: details.fingerprint,
    rejectFile: details.rejectFile,
  };

  const parsed = manifestSchema.safeParse(manifest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`the ingest built an invalid manifest at "${issue.path.join('.')}": ${issue.message}; this is a bug in the ingest`);
  }
  await writeJsonAtomic(join(outDir, 'manifest.json'), manifest);
  return manifest;
}
