import { encodeFloat16, fromFloat16Bits } from './float16.ts';
import type { GradientEncoding } from './payloads.ts';

/** A named tensor's values as a flat row-major float32 array. */
export interface NamedArray {
  shape: number[];
  values: Float32Array;
}

/**
 * The place and encoding of one tensor in a payload. `dense32` and `dense16`: every value,
 * as float32 or float16. `rows32`: only the listed rows of a matrix (int32 row ids, then
 * the rows as float32).
 */
export interface PayloadEntry {
  name: string;
  shape: number[];
  encoding: 'dense32' | 'dense16' | 'rows32';
  /** Byte offset of the data, from the start of the data section. */
  offset: number;
  byteLength: number;
  /** Number of rows stored, for `rows32`. */
  rows?: number;
}

/** Bytes of the payload header: magic, format version, header length. */
const PREFIX_BYTES = 12;
const MAGIC = 0x4d434d54; // "MCMT"
const FORMAT_VERSION = 1;

/** Per-tensor sizes of an encoded payload, for the benchmark and the step log. */
export interface PayloadStats {
  bytes: number;
  denseTensors: number;
  sparseTensors: number;
  /** Rows sent of the sparse tensors, and the rows they have. */
  rowsSent: number;
  rowsTotal: number;
}

/**
 * Encodes named tensors into one binary payload: a 12-byte prefix (magic, format
 * version, header length), a JSON header listing each tensor's name, shape, encoding
 * and place, then the data, every part aligned to 4 bytes. With `sparseRows`, a matrix
 * is stored as its non-zero rows when that is smaller than storing it whole.
 */
export function encodeTensors(tensors: ReadonlyMap<string, NamedArray>, encoding: GradientEncoding): { payload: Buffer; stats: PayloadStats } {
  const parts: Uint8Array[] = [];
  const entries: PayloadEntry[] = [];
  const stats: PayloadStats = { bytes: 0, denseTensors: 0, sparseTensors: 0, rowsSent: 0, rowsTotal: 0 };
  let offset = 0;

  const push = (entry: Omit<PayloadEntry, 'offset' | 'byteLength'>, data: Uint8Array[]) => {
    const byteLength = data.reduce((sum, part) => sum + part.byteLength, 0);
    entries.push({ ...entry, offset, byteLength });
    parts.push(...data);
    const padding = (4 - (byteLength % 4)) % 4;
    if (padding > 0) parts.push(new Uint8Array(padding));
    offset += byteLength + padding;
  };

  for (const name of [...tensors.keys()].sort()) {
    const { shape, values } = tensors.get(name)!;
    const rows = encoding.sparseRows ? sparseRows(shape, values, encoding.denseFloat16 ? 2 : 4) : null;
    if (rows !== null) {
      const width = shape.slice(1).reduce((a, b) => a * b, 1);
      const rowValues = new Float32Array(rows.length * width);
      rows.forEach((row, i) => rowValues.set(values.subarray(row * width, (row + 1) * width), i * width));
      push({ name, shape, encoding: 'rows32', rows: rows.length }, [bytesOf(rows), bytesOf(rowValues)]);
      stats.sparseTensors++;
      stats.rowsSent += rows.length;
      stats.rowsTotal += shape[0]!;
    } else if (encoding.denseFloat16) {
      push({ name, shape, encoding: 'dense16' }, [bytesOf(encodeFloat16(values))]);
      stats.denseTensors++;
    } else {
      push({ name, shape, encoding: 'dense32' }, [bytesOf(values)]);
      stats.denseTensors++;
    }
  }

  const header = Buffer.from(JSON.stringify({ entries }), 'utf8');
  const headerPadding = (4 - (header.byteLength % 4)) % 4;
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.writeUInt32LE(MAGIC, 0);
  prefix.writeUInt32LE(FORMAT_VERSION, 4);
  prefix.writeUInt32LE(header.byteLength + headerPadding, 8);
  const payload = Buffer.concat([prefix, header, Buffer.alloc(headerPadding, 0x20), ...parts]);
  stats.bytes = payload.byteLength;
  return { payload, stats };
}

/** Reads the header of a payload and returns its entries and where the data starts. */
export function readPayloadHeader(payload: Buffer): { entries: PayloadEntry[]; dataStart: number } {
  if (payload.byteLength < PREFIX_BYTES || payload.readUInt32LE(0) !== MAGIC) {
    throw new Error(`not a tensor payload (${payload.byteLength} bytes, no MCMT magic); the key contains something else`);
  }
  const version = payload.readUInt32LE(4);
  if (version !== FORMAT_VERSION) throw new Error(`tensor payload format ${version} is not supported; this version of mcm reads format ${FORMAT_VERSION}`);
  const headerLength = payload.readUInt32LE(8);
  const header = JSON.parse(payload.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength).toString('utf8')) as { entries: PayloadEntry[] };
  return { entries: header.entries, dataStart: PREFIX_BYTES + headerLength };
}

/** Decodes a payload into dense arrays; row-sparse tensors get zeros in the rows not sent. */
export function decodeTensors(payload: Buffer): Map<string, NamedArray> {
  const { entries, dataStart } = readPayloadHeaderCached(payload);
  const out = new Map<string, NamedArray>();
  for (const entry of entries) {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (entry.encoding === 'dense32') {
      // One copy into an aligned buffer of its own, instead of zeros plus an add.
      const start = payload.byteOffset + dataStart + entry.offset;
      const values = new Float32Array(payload.buffer.slice(start, start + entry.byteLength));
      checkLength(entry, values.length, size);
      out.set(entry.name, { shape: entry.shape, values });
      continue;
    }
    const values = new Float32Array(size);
    addEntry(values, payload, entry);
    out.set(entry.name, { shape: entry.shape, values });
  }
  return out;
}

/**
 * Adds every tensor of `payload` into the dense arrays of `sums`, creating missing ones
 * with zeros. Shapes must match what `sums` already holds.
 */
export function addTensors(sums: Map<string, NamedArray>, payload: Buffer): void {
  const { entries } = readPayloadHeader(payload);
  for (const entry of entries) {
    let sum = sums.get(entry.name);
    if (sum === undefined) {
      sum = { shape: entry.shape, values: new Float32Array(entry.shape.reduce((a, b) => a * b, 1)) };
      sums.set(entry.name, sum);
    } else if (sum.shape.join('x') !== entry.shape.join('x')) {
      throw new Error(`gradient "${entry.name}" has shape [${entry.shape}] in one payload and [${sum.shape}] in another`);
    }
    addEntry(sum.values, payload, entry);
  }
}

function addEntry(target: Float32Array, payload: Buffer, entry: PayloadEntry): void {
  const { dataStart } = readPayloadHeaderCached(payload);
  const start = payload.byteOffset + dataStart + entry.offset;
  // Copies, because a Buffer's byteOffset need not be aligned for a typed-array view.
  const bytes = payload.buffer.slice(start, start + entry.byteLength);

  if (entry.encoding === 'dense32') {
    const values = new Float32Array(bytes);
    checkLength(entry, values.length, target.length);
    for (let i = 0; i < values.length; i++) target[i]! += values[i]!;
    return;
  }
  if (entry.encoding === 'dense16') {
    const bits = new Uint16Array(bytes);
    checkLength(entry, bits.length, target.length);
    for (let i = 0; i < bits.length; i++) target[i]! += fromFloat16Bits(bits[i]!);
    return;
  }

  const rowCount = entry.rows ?? 0;
  const width = entry.shape.slice(1).reduce((a, b) => a * b, 1);
  const rows = new Int32Array(bytes, 0, rowCount);
  const values = new Float32Array(bytes, rowCount * 4, rowCount * width);
  for (let i = 0; i < rowCount; i++) {
    const row = rows[i]!;
    if (row < 0 || row >= entry.shape[0]!) throw new Error(`gradient "${entry.name}" names row ${row}, outside its ${entry.shape[0]} rows`);
    const base = row * width;
    for (let j = 0; j < width; j++) target[base + j]! += values[i * width + j]!;
  }
}

const headerCache = new WeakMap<Buffer, { entries: PayloadEntry[]; dataStart: number }>();

function readPayloadHeaderCached(payload: Buffer): { entries: PayloadEntry[]; dataStart: number } {
  let header = headerCache.get(payload);
  if (header === undefined) {
    header = readPayloadHeader(payload);
    headerCache.set(payload, header);
  }
  return header;
}

function checkLength(entry: PayloadEntry, received: number, expected: number): void {
  if (received !== expected) throw new Error(`gradient "${entry.name}" carries ${received} values, its shape [${entry.shape}] needs ${expected}`);
}

/**
 * Returns the non-zero rows of a matrix when sending only them is smaller than sending
 * it whole at `denseBytesPerValue`, else null.
 */
function sparseRows(shape: number[], values: Float32Array, denseBytesPerValue: number): Int32Array | null {
  if (shape.length < 2 || shape[0]! < 2) return null;
  const rowCount = shape[0]!;
  const width = values.length / rowCount;
  const rows: number[] = [];
  for (let row = 0; row < rowCount; row++) {
    const base = row * width;
    for (let j = 0; j < width; j++) {
      if (values[base + j] !== 0) {
        rows.push(row);
        break;
      }
    }
  }
  // A row costs its id (4 bytes) on top of its values.
  const sparseBytes = rows.length * (4 + width * 4);
  return sparseBytes < values.length * denseBytesPerValue ? Int32Array.from(rows) : null;
}

function bytesOf(array: Float32Array | Int32Array | Uint16Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}
