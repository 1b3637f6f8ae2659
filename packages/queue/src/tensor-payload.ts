import { fromFloat16Bits, toFloat16Bits } from './float16.ts';
import { BUFFER_HEADROOM, PayloadAligner } from './payload-aligner.ts';
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
// Written little-endian, so a payload starts with the bytes "TMCM".
const MAGIC = 0x4d434d54;
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
 * is stored as its non-zero rows when that is smaller than storing it whole. The payload
 * owns its memory. A process that sends one every step should use a TensorEncoder.
 */
export function encodeTensors(tensors: ReadonlyMap<string, NamedArray>, encoding: GradientEncoding): { payload: Buffer; stats: PayloadStats } {
  const plan = planPayload(tensors, encoding);
  const payload = Buffer.allocUnsafe(plan.bytes);
  writePayload(plan, payload);
  return { payload, stats: plan.stats };
}

/**
 * Encodes payloads, in the format of encodeTensors, into one buffer that it keeps and
 * grows, so that a worker or coordinator that sends a payload every step allocates no
 * new memory for it once the buffer is large enough. Fresh megabytes every step would
 * count against V8's external memory limit and bring a full garbage collection nearly
 * every step.
 */
export class TensorEncoder {
  private buffer = Buffer.alloc(0);

  /** Encodes `tensors`; the payload is a view of this encoder's buffer, valid until the next call. */
  encode(tensors: ReadonlyMap<string, NamedArray>, encoding: GradientEncoding): { payload: Buffer; stats: PayloadStats } {
    const plan = planPayload(tensors, encoding);
    if (this.buffer.byteLength < plan.bytes) this.buffer = Buffer.allocUnsafe(Math.ceil(plan.bytes * BUFFER_HEADROOM));
    const payload = this.buffer.subarray(0, plan.bytes);
    writePayload(plan, payload);
    return { payload, stats: plan.stats };
  }
}

/** A payload laid out before any byte is written: its header, each tensor's place and its total size. */
interface PayloadPlan {
  header: Buffer;
  /** Header bytes with their padding, which is what the prefix records. */
  headerBytes: number;
  tensors: Array<{ entry: PayloadEntry; values: Float32Array; rows: Int32Array | null }>;
  bytes: number;
  stats: PayloadStats;
}

function planPayload(tensors: ReadonlyMap<string, NamedArray>, encoding: GradientEncoding): PayloadPlan {
  const planned: PayloadPlan['tensors'] = [];
  const stats: PayloadStats = { bytes: 0, denseTensors: 0, sparseTensors: 0, rowsSent: 0, rowsTotal: 0 };
  let offset = 0;

  for (const name of [...tensors.keys()].sort()) {
    const { shape, values } = tensors.get(name)!;
    const rows = encoding.sparseRows ? sparseRows(shape, values, encoding.denseFloat16 ? 2 : 4) : null;
    let entry: PayloadEntry;
    if (rows !== null) {
      const width = shape.slice(1).reduce((a, b) => a * b, 1);
      entry = { name, shape, encoding: 'rows32', rows: rows.length, offset, byteLength: rows.length * 4 * (1 + width) };
      stats.sparseTensors++;
      stats.rowsSent += rows.length;
      stats.rowsTotal += shape[0]!;
    } else {
      const denseFloat16 = encoding.denseFloat16;
      entry = { name, shape, encoding: denseFloat16 ? 'dense16' : 'dense32', offset, byteLength: values.length * (denseFloat16 ? 2 : 4) };
      stats.denseTensors++;
    }
    planned.push({ entry, values, rows });
    offset += entry.byteLength + padding(entry.byteLength);
  }

  const header = Buffer.from(JSON.stringify({ entries: planned.map((tensor) => tensor.entry) }), 'utf8');
  const headerBytes = header.byteLength + padding(header.byteLength);
  stats.bytes = PREFIX_BYTES + headerBytes + offset;
  return { header, headerBytes, tensors: planned, bytes: stats.bytes, stats };
}

/** Writes every byte of `target`, which is exactly `plan.bytes` long, padding included. */
function writePayload(plan: PayloadPlan, target: Buffer): void {
  target.writeUInt32LE(MAGIC, 0);
  target.writeUInt32LE(FORMAT_VERSION, 4);
  target.writeUInt32LE(plan.headerBytes, 8);
  plan.header.copy(target, PREFIX_BYTES);
  target.fill(0x20, PREFIX_BYTES + plan.header.byteLength, PREFIX_BYTES + plan.headerBytes);

  const dataStart = PREFIX_BYTES + plan.headerBytes;
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  for (const { entry, values, rows } of plan.tensors) {
    let at = dataStart + entry.offset;
    if (rows !== null) {
      const width = values.length / entry.shape[0]!;
      for (let i = 0; i < rows.length; i++) view.setInt32(at + 4 * i, rows[i]!, true);
      at += 4 * rows.length;
      for (let i = 0; i < rows.length; i++) {
        target.set(bytesOf(values.subarray(rows[i]! * width, (rows[i]! + 1) * width)), at);
        at += 4 * width;
      }
    } else if (entry.encoding === 'dense16') {
      for (let i = 0; i < values.length; i++) view.setUint16(at + 2 * i, toFloat16Bits(values[i]!), true);
      at += 2 * values.length;
    } else {
      target.set(bytesOf(values), at);
      at += 4 * values.length;
    }
    target.fill(0, at, at + padding(entry.byteLength));
  }
}

/** Bytes that align `byteLength` to 4. */
function padding(byteLength: number): number {
  return (4 - (byteLength % 4)) % 4;
}

/** Reads the header of a payload and returns its entries and where the data starts. */
export function readPayloadHeader(payload: Buffer): { entries: PayloadEntry[]; dataStart: number } {
  if (payload.byteLength < PREFIX_BYTES || payload.readUInt32LE(0) !== MAGIC) {
    throw new Error(`not a tensor payload: ${payload.byteLength} bytes that do not start with "TMCM"; the key contains something else`);
  }
  const version = payload.readUInt32LE(4);
  if (version !== FORMAT_VERSION) throw new Error(`tensor payload format ${version} is not supported; this version of mcm reads format ${FORMAT_VERSION}`);
  const headerLength = payload.readUInt32LE(8);
  if (PREFIX_BYTES + headerLength > payload.byteLength) {
    throw new Error(`tensor payload header of ${headerLength} bytes does not fit in the ${payload.byteLength}-byte payload; the payload is truncated or corrupt`);
  }
  let header: { entries: PayloadEntry[] };
  try {
    header = JSON.parse(payload.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength).toString('utf8')) as { entries: PayloadEntry[] };
  } catch (error) {
    throw new Error(`tensor payload header is not valid JSON (${(error as Error).message}); the payload is corrupt`, { cause: error });
  }
  const dataStart = PREFIX_BYTES + headerLength;
  for (const entry of header.entries) {
    const end = dataStart + entry.offset + entry.byteLength;
    if (entry.offset % 4 !== 0 || end > payload.byteLength) {
      throw new Error(`tensor "${entry.name}" lies at bytes ${dataStart + entry.offset}..${end} of a ${payload.byteLength}-byte payload; the payload is truncated or corrupt`);
    }
  }
  return { entries: header.entries, dataStart };
}

/**
 * Decodes a payload into dense arrays, with zeros in the rows a row-sparse tensor did not
 * send. When the payload starts 4-byte aligned (see PayloadAligner), a dense float32
 * tensor is a view of the payload, not a copy, so the payload must not change while the
 * arrays are in use. An unaligned payload is copied once, whole.
 */
export function decodeTensors(received: Buffer): Map<string, NamedArray> {
  const payload = received.byteOffset % 4 === 0 ? received : Buffer.from(received.buffer.slice(received.byteOffset, received.byteOffset + received.byteLength));
  const { entries, dataStart } = readPayloadHeaderCached(payload);
  const out = new Map<string, NamedArray>();
  for (const entry of entries) {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (entry.encoding === 'dense32') {
      const values = new Float32Array(payload.buffer, payload.byteOffset + dataStart + entry.offset, entry.byteLength / 4);
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
 * with zeros: the array of the same name and shape in `spare`, zeroed, when there is
 * one, else a new one. Shapes must match what `sums` already holds.
 */
export function addTensors(sums: Map<string, NamedArray>, received: Buffer, spare?: ReadonlyMap<string, NamedArray>): void {
  const payload = summingAligner.align(received);
  const { entries } = readPayloadHeaderCached(payload);
  for (const entry of entries) {
    let sum = sums.get(entry.name);
    if (sum === undefined) {
      const size = entry.shape.reduce((a, b) => a * b, 1);
      const reused = spare?.get(entry.name);
      sum = reused !== undefined && reused.shape.join('x') === entry.shape.join('x') ? reused : { shape: entry.shape, values: new Float32Array(size) };
      sum.values.fill(0);
      sums.set(entry.name, sum);
    } else if (sum.shape.join('x') !== entry.shape.join('x')) {
      throw new Error(`gradient "${entry.name}" has shape [${entry.shape}] in one payload and [${sum.shape}] in another`);
    }
    addEntry(sum.values, payload, entry);
  }
}

function addEntry(target: Float32Array, payload: Buffer, entry: PayloadEntry): void {
  const { dataStart } = readPayloadHeaderCached(payload);
  // Aligned when the payload is: its parts start at multiples of 4.
  const { buffer } = payload;
  const byteOffset = payload.byteOffset + dataStart + entry.offset;

  if (entry.encoding === 'dense32') {
    const values = new Float32Array(buffer, byteOffset, entry.byteLength / 4);
    checkLength(entry, values.length, target.length);
    for (let i = 0; i < values.length; i++) target[i]! += values[i]!;
    return;
  }
  if (entry.encoding === 'dense16') {
    const bits = new Uint16Array(buffer, byteOffset, entry.byteLength / 2);
    checkLength(entry, bits.length, target.length);
    for (let i = 0; i < bits.length; i++) target[i]! += fromFloat16Bits(bits[i]!);
    return;
  }

  const rowCount = entry.rows ?? 0;
  const width = entry.shape.slice(1).reduce((a, b) => a * b, 1);
  const rows = new Int32Array(buffer, byteOffset, rowCount);
  const values = new Float32Array(buffer, byteOffset + rowCount * 4, rowCount * width);
  for (let i = 0; i < rowCount; i++) {
    const row = rows[i]!;
    if (row < 0 || row >= entry.shape[0]!) throw new Error(`gradient "${entry.name}" names row ${row}, outside its ${entry.shape[0]} rows`);
    const base = row * width;
    for (let j = 0; j < width; j++) target[base + j]! += values[i * width + j]!;
  }
}

/** Aligns the payloads addTensors reads; it is used only within one synchronous call. */
const summingAligner = new PayloadAligner();

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
