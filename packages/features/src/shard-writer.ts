import { join } from 'node:path';
import type { DuckDBListVector, DuckDBVector } from '@duckdb/node-api';
import { startProgress, writeFileAtomic, type Logger } from '@mcm/common';
import { encodeShard, type FeatureColumn, type FeatureConfig, type Manifest, type ShardData } from '@mcm/schema';
import type { DuckDBSession } from './duckdb-session.ts';
import { KEPT_CUSTOMERS_TABLE, SEQUENCED_TABLE } from './sequences.ts';
import type { FeatureIdColumns } from './vocabulary.ts';

/** Relative path of shard `index` inside the output directory. */
export function shardFile(index: number): string {
  return `shards/shard-${String(index).padStart(5, '0')}.bin`;
}

/** Every kept event with its shard, index in the shard, time, split and vocabulary ids. */
const SHARD_EVENTS_TABLE = 'shard_events';

/**
 * Maps every kept event to its shard, its index in the shard and its vocabulary ids, in
 * one pass into a table of numbers that each shard's query then filters cheaply.
 *
 * KEPT_CUSTOMERS_TABLE gives each customer's offset in its shard, so every event's
 * index is known in SQL and no sort of all events is needed.
 */
export async function buildShardEvents(session: DuckDBSession, columns: FeatureIdColumns): Promise<void> {
  // A customer's most recent kept event (from_end 1) is its last, at event_offset + kept - 1.
  const eventIndex = 'CAST(k.event_offset + k.kept - s.from_end AS INTEGER)';
  await session.run(
    `CREATE TABLE ${SHARD_EVENTS_TABLE} AS SELECT s.shard, ${eventIndex} AS event_index, s.time_ms, s.split, ${columns.selects.join(', ')} ` +
      `FROM ${SEQUENCED_TABLE} s JOIN ${KEPT_CUSTOMERS_TABLE} k USING (customer_code) ${columns.joins.join(' ')}`,
  );
}

/**
 * Writes one shard file per shard with encodeShard from the table buildShardEvents
 * made. Customers are in ascending byte order of their id, each customer's events in
 * time order. Only one shard is in memory at a time.
 */
export async function writeShards(
  session: DuckDBSession,
  shardCount: number,
  features: readonly FeatureConfig[],
  outDir: string,
  logger: Logger,
): Promise<Manifest['shards']> {
  const total = await session.row(`SELECT count(*) AS n FROM ${KEPT_CUSTOMERS_TABLE}`);
  const progress = startProgress(logger, 'write shards', Number(total.n), 'customers');

  const entries: Manifest['shards'] = [];
  let customersWritten = 0;
  for (let shard = 0; shard < shardCount; shard++) {
    const data = await readShard(session, shard, features);
    await writeFileAtomic(join(outDir, shardFile(shard)), encodeShard(data));
    entries.push({ file: shardFile(shard), customers: data.customerIds.length, events: data.time.length });

    customersWritten += data.customerIds.length;
    progress.update(customersWritten, { shard });
    logger.debug({ shard, customers: data.customerIds.length, events: data.time.length }, 'shard written');
  }
  progress.stop();
  return entries;
}

async function readShard(session: DuckDBSession, shard: number, features: readonly FeatureConfig[]): Promise<ShardData> {
  const customers = await session.rows(
    `SELECT customer, kept, event_offset FROM ${KEPT_CUSTOMERS_TABLE} WHERE shard = ${shard} ORDER BY customer_code`,
  );
  const customerIds = customers.map((row) => String(row.customer));
  const customerOffsets = new Int32Array(customers.length + 1);
  customers.forEach((row, c) => (customerOffsets[c + 1] = Number(row.event_offset) + Number(row.kept)));
  const builder = new ShardBuilder(customerOffsets[customers.length]!, features);

  // One shard's rows at most are materialized in DuckDB, then read chunk by chunk.
  const featureColumns = features.map((_, i) => `f_${i}`);
  const result = await session.connection.run(
    `SELECT event_index, time_ms, split, ${featureColumns.join(', ')} FROM ${SHARD_EVENTS_TABLE} WHERE shard = ${shard}`,
  );
  for (let chunkIndex = 0; chunkIndex < result.chunkCount; chunkIndex++) {
    const chunk = result.getChunk(chunkIndex);
    const indexVector = chunk.getColumnVector(0);
    const timeVector = chunk.getColumnVector(1);
    const splitVector = chunk.getColumnVector(2);
    const featureVectors = features.map((_, i) => chunk.getColumnVector(3 + i));
    for (let row = 0; row < chunk.rowCount; row++) {
      builder.setEvent(indexVector.getItem(row) as number, timeVector.getItem(row) as number, splitVector.getItem(row) as number, featureVectors, row);
    }
  }

  return { customerIds, customerOffsets, time: builder.time, split: builder.split, features: builder.finish(shard) };
}

/** A growable list of int32 values. */
class Int32List {
  private data = new Int32Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }

  get(index: number): number {
    return this.data[index]!;
  }
}

/**
 * The values of a multi-valued feature while events arrive out of order: each event's
 * list is appended to `arrived`, and `start` / `length` remember where, so that
 * finish() can lay the lists out in event order.
 */
interface MultiColumnBuffer {
  kind: 'multi';
  arrived: Int32List;
  start: Int32Array;
  length: Int32Array;
}

/** Fills the per-event arrays of one shard; events may arrive in any order. */
class ShardBuilder {
  readonly time: Float64Array;
  readonly split: Uint8Array;
  private readonly columns: Array<{ kind: 'single'; values: Int32Array } | MultiColumnBuffer>;
  private readonly seen: Uint8Array;
  private eventsSet = 0;

  constructor(
    private readonly events: number,
    private readonly features: readonly FeatureConfig[],
  ) {
    this.time = new Float64Array(events);
    this.split = new Uint8Array(events);
    this.seen = new Uint8Array(events);
    this.columns = features.map((feature) =>
      feature.kind === 'single'
        ? { kind: 'single', values: new Int32Array(events) }
        : { kind: 'multi', arrived: new Int32List(), start: new Int32Array(events), length: new Int32Array(events) },
    );
  }

  setEvent(event: number, time: number, split: number, featureVectors: readonly DuckDBVector[], row: number): void {
    if (event < 0 || event >= this.events || this.seen[event] === 1) {
      throw new Error(`event index ${event} is outside the shard's ${this.events} events or repeated; this is a bug in the ingest`);
    }
    this.seen[event] = 1;
    this.eventsSet += 1;
    this.time[event] = time;
    this.split[event] = split;

    for (let i = 0; i < this.columns.length; i++) {
      const column = this.columns[i]!;
      const vector = featureVectors[i]!;
      if (column.kind === 'single') {
        column.values[event] = vector.getItem(row) as number;
        continue;
      }
      const list = vector as DuckDBListVector;
      const start = list.getEntryOffset(row);
      const length = list.getEntryLength(row);
      const child = list.childVector;
      column.start[event] = column.arrived.length;
      column.length[event] = length;
      for (let k = 0; k < length; k++) column.arrived.push(child.getItem(start + k) as number);
    }
  }

  /** Returns the feature columns, with multi-valued lists laid out in event order. */
  finish(shard: number): Record<string, FeatureColumn> {
    if (this.eventsSet !== this.events) {
      throw new Error(`shard ${shard}: received ${this.eventsSet} of its ${this.events} events; this is a bug in the ingest`);
    }

    const features: Record<string, FeatureColumn> = {};
    this.features.forEach((feature, i) => {
      const column = this.columns[i]!;
      if (column.kind === 'single') {
        features[feature.name] = column;
        return;
      }
      const offsets = new Int32Array(this.events + 1);
      for (let event = 0; event < this.events; event++) offsets[event + 1] = offsets[event]! + column.length[event]!;
      const values = new Int32Array(offsets[this.events]!);
      for (let event = 0; event < this.events; event++) {
        const from = column.start[event]!;
        const target = offsets[event]!;
        for (let k = 0; k < column.length[event]!; k++) values[target + k] = column.arrived.get(from + k);
      }
      features[feature.name] = { kind: 'multi', offsets, values };
    });
    return features;
  }
}
