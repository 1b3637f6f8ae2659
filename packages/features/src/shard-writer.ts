import { join } from 'node:path';
import type { DuckDBListVector, DuckDBVector } from '@duckdb/node-api';
import { startProgress, writeFileAtomic, type Logger } from '@mcm/common';
import { encodeShard, type FeatureColumn, type FeatureConfig, type Manifest, type ShardData } from '@mcm/schema';
import type { DuckDBSession } from './duckdb-session.ts';
import { SEQUENCED_TABLE } from './sequences.ts';

/** Relative path of shard `index` inside the output directory. */
export function shardFile(index: number): string {
  return `shards/shard-${String(index).padStart(5, '0')}.bin`;
}

/** The SQL that yields one feature's vocabulary ids (see vocabularyIdColumn). */
export interface FeatureIdColumn {
  feature: FeatureConfig;
  select: string;
  join: string;
}

interface ShardSize {
  customers: number;
  events: number;
  /** Total values of each multi-valued feature, by feature position. */
  values: Map<number, number>;
}

/**
 * Streams SEQUENCED_TABLE, ordered by shard, customer id (byte order) and time, into
 * one shard file per shard, written with encodeShard. Only one shard is in memory at
 * a time; its arrays are allocated at their final size from per-shard counts.
 */
export async function writeShards(
  session: DuckDBSession,
  shardCount: number,
  columns: readonly FeatureIdColumn[],
  outDir: string,
  logger: Logger,
): Promise<Manifest['shards']> {
  const sizes = await measureShards(session, shardCount, columns);
  const totalCustomers = sizes.reduce((sum, size) => sum + size.customers, 0);
  const progress = startProgress(logger, 'write shards', totalCustomers, 'customers');

  const sql =
    `SELECT s.shard, CASE WHEN s.first_event THEN s.customer END AS customer, s.time_ms, s.split, ` +
    `${columns.map((column) => column.select).join(', ')} FROM ${SEQUENCED_TABLE} s ${columns.map((column) => column.join).join(' ')} ` +
    'ORDER BY s.shard, s.customer, s.time_ms, s.tie';
  const result = await session.connection.stream(sql);

  const entries: Manifest['shards'] = [];
  let builder: ShardBuilder | null = null;
  let customersWritten = 0;
  const finish = async (next: number) => {
    // Shards with no customer still get a file, so every shard index has one.
    while (entries.length < next) {
      const shard = entries.length;
      const data = builder !== null && builder.shard === shard ? builder.finish() : new ShardBuilder(shard, emptySize(), columns).finish();
      await writeFileAtomic(join(outDir, shardFile(shard)), encodeShard(data));
      entries.push({ file: shardFile(shard), customers: data.customerIds.length, events: data.time.length });
      customersWritten += data.customerIds.length;
      progress.update(customersWritten);
    }
  };

  for (;;) {
    const chunk = await result.fetchChunk();
    if (chunk === null || chunk.rowCount === 0) break;
    const shardVector = chunk.getColumnVector(0);
    const customerVector = chunk.getColumnVector(1);
    const timeVector = chunk.getColumnVector(2);
    const splitVector = chunk.getColumnVector(3);
    const featureVectors = columns.map((_, i) => chunk.getColumnVector(4 + i));

    for (let row = 0; row < chunk.rowCount; row++) {
      const shard = shardVector.getItem(row) as number;
      if (builder === null || builder.shard !== shard) {
        await finish(shard);
        builder = new ShardBuilder(shard, sizes[shard]!, columns);
      }
      builder.addEvent(
        customerVector.getItem(row) as string | null,
        timeVector.getItem(row) as number,
        splitVector.getItem(row) as number,
        featureVectors,
        row,
      );
    }
  }
  await finish(shardCount);
  progress.stop();
  return entries;
}

async function measureShards(session: DuckDBSession, shardCount: number, columns: readonly FeatureIdColumn[]): Promise<ShardSize[]> {
  const multi = columns.map((column, i) => ({ column, i })).filter(({ column }) => column.feature.kind === 'multi');
  const valueSums = multi.map(({ i }) => `, sum(len(f_${i})) AS values_${i}`).join('');
  const rows = await session.rows(
    `SELECT shard, count(*) AS events, count(*) FILTER (WHERE first_event) AS customers${valueSums} FROM ${SEQUENCED_TABLE} GROUP BY shard`,
  );

  const sizes = Array.from({ length: shardCount }, emptySize);
  for (const row of rows) {
    const size = sizes[Number(row.shard)]!;
    size.events = Number(row.events);
    size.customers = Number(row.customers);
    for (const { i } of multi) size.values.set(i, Number(row[`values_${i}`]));
  }
  return sizes;
}

function emptySize(): ShardSize {
  return { customers: 0, events: 0, values: new Map() };
}

/** Fills the typed arrays of one shard event by event. */
class ShardBuilder {
  private readonly customerIds: string[] = [];
  private readonly customerOffsets: Int32Array;
  private readonly time: Float64Array;
  private readonly split: Uint8Array;
  private readonly features: FeatureColumn[];
  private events = 0;
  private readonly valuesWritten: number[];

  constructor(
    readonly shard: number,
    private readonly size: ShardSize,
    private readonly columns: readonly FeatureIdColumn[],
  ) {
    this.customerOffsets = new Int32Array(size.customers + 1);
    this.time = new Float64Array(size.events);
    this.split = new Uint8Array(size.events);
    this.features = columns.map((column, i) =>
      column.feature.kind === 'single'
        ? { kind: 'single', values: new Int32Array(size.events) }
        : { kind: 'multi', offsets: new Int32Array(size.events + 1), values: new Int32Array(size.values.get(i) ?? 0) },
    );
    this.valuesWritten = columns.map(() => 0);
  }

  /** Appends one event; `customer` is non-null on the first event of each customer. */
  addEvent(customer: string | null, time: number, split: number, featureVectors: readonly DuckDBVector[], row: number): void {
    const event = this.events;
    if (customer !== null) {
      this.customerOffsets[this.customerIds.length] = event;
      this.customerIds.push(customer);
    }
    this.time[event] = time;
    this.split[event] = split;

    this.features.forEach((column, i) => {
      const vector = featureVectors[i]!;
      if (column.kind === 'single') {
        column.values[event] = vector.getItem(row) as number;
        return;
      }
      const list = vector as DuckDBListVector;
      const start = list.getEntryOffset(row);
      const length = list.getEntryLength(row);
      const child = list.childVector;
      let written = this.valuesWritten[i]!;
      for (let k = 0; k < length; k++) column.values[written++] = child.getItem(start + k) as number;
      this.valuesWritten[i] = written;
      column.offsets[event + 1] = written;
    });
    this.events = event + 1;
  }

  finish(): ShardData {
    if (this.events !== this.size.events || this.customerIds.length !== this.size.customers) {
      throw new Error(
        `shard ${this.shard}: wrote ${this.events} events of ${this.customerIds.length} customers, ` +
          `but the counts promised ${this.size.events} and ${this.size.customers}; this is a bug in the ingest`,
      );
    }
    this.customerOffsets[this.customerIds.length] = this.events;
    return {
      customerIds: this.customerIds,
      customerOffsets: this.customerOffsets,
      time: this.time,
      split: this.split,
      features: Object.fromEntries(this.columns.map((column, i) => [column.feature.name, this.features[i]!])),
    };
  }
}
