import { describe, expect, it } from 'vitest';
import { fromFloat16Bits, toFloat16Bits } from '../src/float16.ts';
import { addTensors, decodeTensors, encodeTensors, type NamedArray } from '../src/tensor-payload.ts';

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
