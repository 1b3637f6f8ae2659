import { basename, dirname } from 'node:path';
import { readIngestFile } from './ingest-output-files.ts';

/**
 * Binary layout of one shard of customers, written by the ingest and loaded by the
 * trainer straight into typed arrays.
 *
 *   bytes 0..3    ASCII "MCM1"
 *   bytes 4..7    header length H (uint32, little endian)
 *   bytes 8..8+H  header, UTF-8 JSON: { customers, events, columns: ColumnEntry[] }
 *   then          the columns, each starting at a multiple of 8 bytes from the file start
 *
 * Columns (all little endian):
 *   customer.offsets          int32  [customers + 1]  events of customer c: [offsets[c], offsets[c+1])
 *   customer.id.offsets       int32  [customers + 1]  byte ranges of the ids in customer.id.bytes
 *   customer.id.bytes         uint8  [total id bytes]  UTF-8 customer ids
 *   event.time                float64 [events]        epoch milliseconds (the position for order-only datasets)
 *   event.split               uint8  [events]         0 train, 1 validation, 2 test
 *   feature.<name>            int32  [events]         vocabulary ids of a single-valued feature
 *   feature.<name>.offsets    int32  [events + 1]     for a multi-valued feature: value range of each event
 *   feature.<name>            int32  [values]         ... and the values themselves
 *
 * Within a shard, customers are in ascending order of their id, and each customer's
 * events in time order. Vocabulary id 0 is padding and never appears in a shard.
 */
export const SHARD_MAGIC = 'MCM1';

export const SPLIT_TRAIN = 0;
export const SPLIT_VALIDATION = 1;
export const SPLIT_TEST = 2;

export type ColumnType = 'int32' | 'float64' | 'uint8';

export interface ColumnEntry {
  name: string;
  type: ColumnType;
  /** Number of elements, not bytes. */
  length: number;
  /** Byte offset from the start of the file; a multiple of 8. */
  offset: number;
}

export type FeatureColumn =
  | { kind: 'single'; values: Int32Array }
  | { kind: 'multi'; offsets: Int32Array; values: Int32Array };

/** One shard in memory. */
export interface ShardData {
  customerIds: string[];
  /** [customers + 1] */
  customerOffsets: Int32Array;
  /** [events] epoch milliseconds, or the position for order-only datasets. */
  time: Float64Array;
  /** [events] SPLIT_TRAIN, SPLIT_VALIDATION or SPLIT_TEST. */
  split: Uint8Array;
  features: Record<string, FeatureColumn>;
}

const BYTES: Record<ColumnType, number> = { int32: 4, float64: 8, uint8: 1 };

/** Serialises a shard; the same data always gives the same bytes. */
export function encodeShard(shard: ShardData): Uint8Array {
  const encoder = new TextEncoder();
  const idBytes = shard.customerIds.map((id) => encoder.encode(id));
  const idOffsets = new Int32Array(idBytes.length + 1);
  for (let i = 0; i < idBytes.length; i++) idOffsets[i + 1] = idOffsets[i]! + idBytes[i]!.length;
  const allIdBytes = new Uint8Array(idOffsets[idBytes.length]!);
  idBytes.forEach((bytes, i) => allIdBytes.set(bytes, idOffsets[i]!));

  const arrays: Array<{ name: string; type: ColumnType; data: Int32Array | Float64Array | Uint8Array }> = [
    { name: 'customer.offsets', type: 'int32', data: shard.customerOffsets },
    { name: 'customer.id.offsets', type: 'int32', data: idOffsets },
    { name: 'customer.id.bytes', type: 'uint8', data: allIdBytes },
    { name: 'event.time', type: 'float64', data: shard.time },
    { name: 'event.split', type: 'uint8', data: shard.split },
  ];
  for (const name of Object.keys(shard.features).sort()) {
    const column = shard.features[name]!;
    if (column.kind === 'multi') arrays.push({ name: `feature.${name}.offsets`, type: 'int32', data: column.offsets });
    arrays.push({ name: `feature.${name}`, type: 'int32', data: column.values });
  }

  // The header's length depends on the offsets it lists, so lay the columns out
  // against a header size that is fixed up until it stops growing.
  let headerBytes: Uint8Array;
  let columns: ColumnEntry[];
  for (let reserve = 256; ; reserve *= 2) {
    let offset = align8(8 + reserve);
    columns = arrays.map((array) => {
      const entry = { name: array.name, type: array.type, length: array.data.length, offset };
      offset = align8(offset + array.data.length * BYTES[array.type]);
      return entry;
    });
    const header = { customers: shard.customerIds.length, events: shard.time.length, columns };
    headerBytes = encoder.encode(JSON.stringify(header).padEnd(reserve, ' '));
    if (headerBytes.length === reserve) break;
  }

  const last = columns[columns.length - 1]!;
  const total = align8(last.offset + last.length * BYTES[last.type]);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(encoder.encode(SHARD_MAGIC), 0);
  view.setUint32(4, headerBytes.length, true);
  out.set(headerBytes, 8);
  arrays.forEach((array, i) => {
    const bytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
    out.set(bytes, columns[i]!.offset);
  });
  return out;
}

/** Parses a shard produced by encodeShard; `source` names the file in errors. */
export function decodeShard(bytes: Uint8Array, source = 'shard'): ShardData {
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic !== SHARD_MAGIC) {
    throw new Error(`${source}: not an mcm shard (magic "${magic}", expected "${SHARD_MAGIC}"); re-run the ingest`);
  }
  if (bytes.length < 8) throw new Error(`${source}: the shard ends inside its header (${bytes.length} bytes), so it is truncated; re-run the ingest`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (8 + headerLength > bytes.length) {
    throw new Error(`${source}: the shard header of ${headerLength} bytes runs past the end of the file, so the shard is truncated; re-run the ingest`);
  }
  let header: { customers: number; events: number; columns: ColumnEntry[] };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as typeof header;
  } catch (error) {
    throw new Error(`${source}: the shard header is not valid JSON (${(error as Error).message}), so the shard is damaged; re-run the ingest`, {
      cause: error,
    });
  }

  // Copy each column into its own aligned buffer: a Node Buffer's byteOffset is not
  // always a multiple of 8, and typed arrays need aligned views.
  const columns = new Map<string, Int32Array | Float64Array | Uint8Array>();
  for (const entry of header.columns) {
    const byteLength = entry.length * BYTES[entry.type];
    if (entry.offset + byteLength > bytes.length) {
      throw new Error(`${source}: column ${entry.name} runs past the end of the file; the shard is truncated, re-run the ingest`);
    }
    // Buffer#slice returns a view, not a copy, so copy explicitly.
    const copy = new Uint8Array(byteLength);
    copy.set(bytes.subarray(entry.offset, entry.offset + byteLength));
    columns.set(entry.name, typedColumn(entry.type, copy));
  }
  const need = <T>(name: string): T => {
    const column = columns.get(name);
    if (column === undefined) throw new Error(`${source}: column ${name} is missing; re-run the ingest`);
    return column as T;
  };

  const idOffsets = need<Int32Array>('customer.id.offsets');
  const idBytes = need<Uint8Array>('customer.id.bytes');
  const decoder = new TextDecoder();
  const customerIds: string[] = [];
  for (let i = 0; i < header.customers; i++) customerIds.push(decoder.decode(idBytes.subarray(idOffsets[i], idOffsets[i + 1])));

  const features: Record<string, FeatureColumn> = {};
  for (const entry of header.columns) {
    if (!entry.name.startsWith('feature.') || entry.name.endsWith('.offsets')) continue;
    const name = entry.name.slice('feature.'.length);
    const offsets = columns.get(`feature.${name}.offsets`) as Int32Array | undefined;
    const values = need<Int32Array>(entry.name);
    features[name] = offsets === undefined ? { kind: 'single', values } : { kind: 'multi', offsets, values };
  }

  return {
    customerIds,
    customerOffsets: need<Int32Array>('customer.offsets'),
    time: need<Float64Array>('event.time'),
    split: need<Uint8Array>('event.split'),
    features,
  };
}

/**
 * Reads and parses one shard file. The ingest output directory in error messages is
 * the parent of the `shards/` folder that contains the file.
 */
export async function readShard(path: string): Promise<ShardData> {
  const folder = dirname(path);
  const outputDir = basename(folder) === 'shards' ? dirname(folder) : folder;
  return decodeShard(await readIngestFile(path, outputDir), path);
}

function typedColumn(type: ColumnType, bytes: Uint8Array): Int32Array | Float64Array | Uint8Array {
  if (type === 'int32') return new Int32Array(bytes.buffer);
  if (type === 'float64') return new Float64Array(bytes.buffer);
  return bytes;
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}
