import { describe, expect, it } from 'vitest';
import { fromFloat16Bits, toFloat16Bits } from '../src/float16.ts';
import { addTensors, decodeTensors, encodeTensors, TensorEncoder, type NamedArray } from '../src/tensor-payload.ts';

/** Returns a [rows, width] matrix that is zero except in `touched` rows. */
function sparseMatrix(rows: number, width: number, touched: number[]): NamedArray {
  const values = new Float32Array(rows * width);
  for (const row of touched) for (let j = 0; j < width; j++) values[row * width + j] = row + j / 10 + 0.125;
  return { shape: [rows, width], values };
}

describe('tensor payload', () => {
  it('round-trips dense float32 exactly', () => {
    const tensors = new Map([
      ['bias', { shape: [3], values: Float32Array.from([1.5, -2.25, 1e-7]) }],
      ['kernel', { shape: [2, 2], values: Float32Array.from([0.1, 0.2, 0.3, 0.4]) }],
    ]);
    const { payload } = encodeTensors(tensors, { sparseRows: false, denseFloat16: false });
    const decoded = decodeTensors(payload);
    expect(decoded.get('bias')!.values).toEqual(tensors.get('bias')!.values);
    expect(decoded.get('kernel')!.values).toEqual(tensors.get('kernel')!.values);
    expect(decoded.get('kernel')!.shape).toEqual([2, 2]);
  });

  it('sends only touched rows of a sparse matrix', () => {
    const table = sparseMatrix(1000, 8, [3, 17, 999]);
    const tensors = new Map([['embedding/item', table]]);
    const sparse = encodeTensors(tensors, { sparseRows: true, denseFloat16: false });
    const dense = encodeTensors(tensors, { sparseRows: false, denseFloat16: false });

    expect(sparse.stats.sparseTensors).toBe(1);
    expect(sparse.stats.rowsSent).toBe(3);
    expect(sparse.stats.rowsTotal).toBe(1000);
    expect(sparse.stats.bytes).toBeLessThan(400);
    expect(dense.stats.bytes).toBeGreaterThan(32_000);
    expect(decodeTensors(sparse.payload).get('embedding/item')!.values).toEqual(table.values);
  });

  it('keeps a mostly touched matrix dense', () => {
    const touched = Array.from({ length: 90 }, (_, i) => i);
    const { stats } = encodeTensors(new Map([['kernel', sparseMatrix(100, 4, touched)]]), { sparseRows: true, denseFloat16: false });
    expect(stats.sparseTensors).toBe(0);
    expect(stats.denseTensors).toBe(1);
  });

  it('adds payloads into running sums', () => {
    const sums = new Map<string, NamedArray>();
    const first = encodeTensors(new Map([['table', sparseMatrix(50, 2, [1])]]), { sparseRows: true, denseFloat16: false });
    const second = encodeTensors(new Map([['table', sparseMatrix(50, 2, [1, 7])]]), { sparseRows: true, denseFloat16: false });
    addTensors(sums, first.payload);
    addTensors(sums, second.payload);

    const values = sums.get('table')!.values;
    expect(values[2]).toBeCloseTo(2 * 1.125, 6);
    expect(values[3]).toBeCloseTo(2 * 1.225, 6);
    expect(values[14]).toBeCloseTo(7.125, 6);
    expect(values[0]).toBe(0);
  });

  it('rejects payloads of another shape', () => {
    const sums = new Map<string, NamedArray>();
    addTensors(sums, encodeTensors(new Map([['w', { shape: [2], values: new Float32Array(2) }]]), { sparseRows: false, denseFloat16: false }).payload);
    const other = encodeTensors(new Map([['w', { shape: [3], values: new Float32Array(3) }]]), { sparseRows: false, denseFloat16: false }).payload;
    expect(() => addTensors(sums, other)).toThrow('gradient "w" has shape [3] in one payload and [2] in another');
  });

  it('rejects bytes that are not a payload', () => {
    expect(() => decodeTensors(Buffer.from('hello world, not tensors'))).toThrow('not a tensor payload');
  });

  it('rejects a payload cut inside its header', () => {
    const { payload } = encodeTensors(new Map([['kernel', { shape: [4, 4], values: new Float32Array(16) }]]), { sparseRows: false, denseFloat16: false });
    expect(() => decodeTensors(payload.subarray(0, 40))).toThrow(/tensor payload header of \d+ bytes does not fit in the 40-byte payload; the payload is truncated or corrupt/);
    const garbled = Buffer.from(payload);
    garbled.fill(0x7b, 12, 20);
    expect(() => decodeTensors(garbled)).toThrow(/tensor payload header is not valid JSON .*; the payload is corrupt/);
  });

  it('rejects a truncated payload, naming the tensor that does not fit', () => {
    const { payload } = encodeTensors(new Map([['kernel', { shape: [4, 4], values: new Float32Array(16) }]]), { sparseRows: false, denseFloat16: false });
    expect(() => decodeTensors(payload.subarray(0, payload.byteLength - 8))).toThrow(/tensor "kernel" lies at bytes \d+\.\.\d+ of a \d+-byte payload; the payload is truncated or corrupt/);
  });

  it('halves dense bytes with float16', () => {
    const values = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i) * 0.01);
    const tensors = new Map([['kernel', { shape: [64, 64], values }]]);
    const full = encodeTensors(tensors, { sparseRows: false, denseFloat16: false });
    const half = encodeTensors(tensors, { sparseRows: false, denseFloat16: true });
    expect(half.stats.bytes).toBeLessThan(full.stats.bytes * 0.55);

    const decoded = decodeTensors(half.payload).get('kernel')!.values;
    for (let i = 0; i < values.length; i++) expect(Math.abs(decoded[i]! - values[i]!)).toBeLessThanOrEqual(Math.abs(values[i]!) * 2 ** -11 + 2 ** -24);
  });
});

describe('tensor payload buffers', () => {
  const encodings = [
    { sparseRows: false, denseFloat16: false },
    { sparseRows: false, denseFloat16: true },
    { sparseRows: true, denseFloat16: false },
  ];

  /** Returns a sparse table, an odd-length vector and a dense kernel. */
  function mixedTensors(touched: number[]): Map<string, NamedArray> {
    return new Map([
      ['embedding/item', sparseMatrix(200, 4, touched)],
      ['odd', { shape: [3], values: Float32Array.from([1, -0.5, 2]) }],
      ['kernel', { shape: [3, 5], values: Float32Array.from({ length: 15 }, (_, i) => i / 4 - 1) }],
    ]);
  }

  /** Copies `payload` to an odd byte offset, as ioredis hands out slices of its pool. */
  function misaligned(payload: Buffer): Buffer {
    const pool = Buffer.alloc(payload.byteLength + 3);
    payload.copy(pool, 3);
    return pool.subarray(3);
  }

  it('reused encoder matches a fresh payload', () => {
    const encoder = new TensorEncoder();
    for (const touched of [[0, 5, 199], Array.from({ length: 150 }, (_, i) => i), [7]]) {
      for (const encoding of encodings) {
        const expected = encodeTensors(mixedTensors(touched), encoding);
        const reused = encoder.encode(mixedTensors(touched), encoding);
        expect(reused.payload.equals(expected.payload)).toBe(true);
        expect(reused.stats).toEqual(expected.stats);
      }
    }
  });

  it('sums into the spare arrays of matching shape, zeroed first', () => {
    const { payload } = encodeTensors(mixedTensors([4]), { sparseRows: true, denseFloat16: false });
    const spare = new Map<string, NamedArray>([
      ['embedding/item', { shape: [200, 4], values: new Float32Array(800).fill(9) }],
      ['kernel', { shape: [5, 3], values: new Float32Array(15).fill(9) }],
    ]);
    const sums = new Map<string, NamedArray>();
    addTensors(sums, payload, spare);

    expect(sums.get('embedding/item')).toBe(spare.get('embedding/item'));
    expect(sums.get('embedding/item')!.values).toEqual(sparseMatrix(200, 4, [4]).values);
    // The spare kernel is [5, 3], the payload's [3, 5]: a new array is made instead.
    expect(sums.get('kernel')).not.toBe(spare.get('kernel'));
    expect(sums.get('kernel')!.values).toEqual(mixedTensors([]).get('kernel')!.values);
  });

  it('decodes and adds a payload that starts at an unaligned byte offset', () => {
    for (const encoding of encodings) {
      const tensors = mixedTensors([2, 9]);
      const { payload } = encodeTensors(tensors, encoding);
      const shifted = misaligned(payload);
      expect(shifted.byteOffset % 4).not.toBe(0);

      const aligned = decodeTensors(payload);
      const decoded = decodeTensors(shifted);
      const sums = new Map<string, NamedArray>();
      addTensors(sums, shifted);
      addTensors(sums, payload);
      for (const name of tensors.keys()) {
        expect(decoded.get(name)!.values).toEqual(aligned.get(name)!.values);
        expect(sums.get(name)!.values).toEqual(aligned.get(name)!.values.map((value) => 2 * value));
      }
    }
  });
});

describe('float16', () => {
  it('encodes exact values exactly', () => {
    for (const value of [0, 1, -1, 0.5, 2048, 65504, 2 ** -14, 2 ** -24, -3.25]) expect(fromFloat16Bits(toFloat16Bits(value))).toBe(value);
  });

  it('rounds to nearest even', () => {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10; the even neighbour is 1.
    expect(fromFloat16Bits(toFloat16Bits(1 + 2 ** -11))).toBe(1);
    expect(fromFloat16Bits(toFloat16Bits(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
  });

  it('overflows to infinity and keeps NaN', () => {
    expect(fromFloat16Bits(toFloat16Bits(1e6))).toBe(Infinity);
    expect(fromFloat16Bits(toFloat16Bits(-1e6))).toBe(-Infinity);
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
    expect(fromFloat16Bits(toFloat16Bits(1e-9))).toBe(0);
  });
});
