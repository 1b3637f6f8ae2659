import { describe, expect, test } from 'vitest';
import { loadNativeKernels } from '../src/index.ts';

const load = loadNativeKernels();
const native = load.kernels;
const suffix = native === undefined ? ` (skipped: ${load.reason})` : '';

/** A float32 heap with bump allocation, standing in for the wasm memory. */
class Heap {
  readonly buffer = new ArrayBuffer(1 << 20);
  private next = 16;

  /** Copies `values` into the heap and returns their byte offset. */
  put(values: Float32Array): number {
    const offset = this.next;
    new Float32Array(this.buffer, offset, values.length).set(values);
    this.next += Math.ceil((values.length * 4) / 16) * 16 + 16;
    return offset;
  }

  read(offset: number, count: number): Float32Array {
    return new Float32Array(this.buffer, offset, count).slice();
  }
}

/** Deterministic values in [-1, 1). */
function values(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

interface Case {
  label: string;
  batchA: number;
  batchB: number;
  m: number;
  n: number;
  k: number;
  transposeA: boolean;
  transposeB: boolean;
  bias: boolean;
}

/**
 * Computes the product in float64 by definition, slice by slice, and for each value the sum
 * of the absolute terms, which bounds float32's rounding error.
 */
function reference(c: Case, a: Float32Array, b: Float32Array, bias: Float32Array | undefined): { value: Float64Array; magnitude: Float64Array } {
  const batch = Math.max(c.batchA, c.batchB);
  const out = new Float64Array(batch * c.m * c.n);
  const magnitude = new Float64Array(batch * c.m * c.n);
  for (let i = 0; i < batch; i++) {
    const aStart = c.batchA === 1 ? 0 : i * c.m * c.k;
    const bStart = c.batchB === 1 ? 0 : i * c.k * c.n;
    for (let row = 0; row < c.m; row++) {
      for (let column = 0; column < c.n; column++) {
        let sum = bias === undefined ? 0 : bias[column]!;
        let absolute = Math.abs(sum);
        for (let p = 0; p < c.k; p++) {
          const x = a[aStart + (c.transposeA ? p * c.m + row : row * c.k + p)]!;
          const y = b[bStart + (c.transposeB ? column * c.k + p : p * c.n + column)]!;
          sum += x * y;
          absolute += Math.abs(x * y);
        }
        out[(i * c.m + row) * c.n + column] = sum;
        magnitude[(i * c.m + row) * c.n + column] = absolute;
      }
    }
  }
  return { value: out, magnitude };
}

function run(c: Case): { actual: Float32Array; expected: { value: Float64Array; magnitude: Float64Array } } {
  const heap = new Heap();
  const a = values(c.batchA * c.m * c.k, 1);
  const b = values(c.batchB * c.k * c.n, 2);
  const bias = c.bias ? values(c.n, 3) : undefined;
  const batch = Math.max(c.batchA, c.batchB);
  const aOffset = heap.put(a);
  const bOffset = heap.put(b);
  const biasOffset = bias === undefined ? -1 : heap.put(bias);
  // NaN fill: every output value must be written.
  const cOffset = heap.put(new Float32Array(batch * c.m * c.n).fill(Number.NaN));
  native!.gemm(
    heap.buffer,
    batch,
    c.m,
    c.n,
    c.k,
    Number(c.transposeA),
    Number(c.transposeB),
    aOffset,
    c.batchA === 1 ? 0 : c.m * c.k,
    bOffset,
    c.batchB === 1 ? 0 : c.k * c.n,
    cOffset,
    biasOffset,
  );
  return { actual: heap.read(cOffset, batch * c.m * c.n), expected: reference(c, a, b, bias) };
}

const CASES: Case[] = [];
for (const [label, batchA, batchB] of [
  ['single', 1, 1],
  ['batched', 3, 3],
  ['shared b', 4, 1],
  ['shared a', 1, 3],
] as const) {
  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      for (const bias of [false, true]) {
        CASES.push({ label, batchA, batchB, m: 5, n: 3, k: 7, transposeA, transposeB, bias });
      }
    }
  }
}
CASES.push({ label: 'layer-sized, shared weight', batchA: 2, batchB: 1, m: 300, n: 64, k: 256, transposeA: false, transposeB: false, bias: true });
CASES.push({ label: 'weight gradient', batchA: 1, batchB: 1, m: 64, n: 256, k: 600, transposeA: true, transposeB: false, bias: false });

describe.skipIf(native === undefined)(`native gemm against a float64 reference${suffix}`, () => {
  for (const c of CASES) {
    test(`${c.label}, transposeA ${c.transposeA}, transposeB ${c.transposeB}, bias ${c.bias}`, () => {
      const { actual, expected } = run(c);
      let worst = 0;
      for (let i = 0; i < expected.value.length; i++) {
        worst = Math.max(worst, Math.abs(actual[i]! - expected.value[i]!) / Math.max(1, expected.magnitude[i]!));
      }
      expect(actual.some(Number.isNaN), 'an output value was not written').toBe(false);
      // Error relative to the sum of the absolute terms: float32 rounding of up to 600 terms.
      expect(worst).toBeLessThanOrEqual(1e-5);
    });
  }

  test('k 0 gives the bias', () => {
    const { actual } = run({ label: 'empty', batchA: 2, batchB: 2, m: 2, n: 3, k: 0, transposeA: false, transposeB: false, bias: true });
    const bias = values(3, 3);
    expect(Array.from(actual)).toEqual(Array.from({ length: 12 }, (_, i) => bias[i % 3]!));
  });

  test('range past the heap rejected', () => {
    const heap = new Heap();
    const size = heap.buffer.byteLength;
    expect(() => native!.gemm(heap.buffer, 1, 2, 2, 2, 0, 0, 16, 0, 64, 0, size - 8, -1)).toThrow(/c \[16 bytes at \d+\] ends past the heap/);
  });

  test('misaligned offset rejected', () => {
    const heap = new Heap();
    expect(() => native!.gemm(heap.buffer, 1, 2, 2, 2, 0, 0, 18, 0, 64, 0, 128, -1)).toThrow(/a offset 18 must be a non-negative multiple of 4/);
  });

  test('output overlapping an input rejected', () => {
    const heap = new Heap();
    expect(() => native!.gemm(heap.buffer, 1, 2, 2, 2, 0, 0, 16, 0, 64, 0, 24, -1)).toThrow(/gemm: output c overlaps a/);
  });

  test('thread count set', () => {
    const before = native!.getThreads();
    native!.setThreads(1);
    expect(native!.getThreads()).toBe(1);
    native!.setThreads(before);
    expect(native!.getThreads()).toBe(before);
  });
});

describe.skipIf(native === undefined)(`native argument checks${suffix}`, () => {
  test('gelu output overlapping x rejected', () => {
    const heap = new Heap();
    expect(() => native!.gelu(heap.buffer, 8, 16, 32)).toThrow(/gelu: output y overlaps x/);
  });

  test('layerNorm epsilon 0 rejected', () => {
    const heap = new Heap();
    expect(() => native!.layerNorm(heap.buffer, 2, 4, 0, 16, 64, 96, 128, 192, 256)).toThrow(/layerNorm: epsilon must be positive/);
  });

  test('wrong argument count rejected', () => {
    const heap = new Heap();
    const adam = native!.adam as unknown as (...args: unknown[]) => void;
    expect(() => adam(heap.buffer, 4)).toThrow(/adam: expected 16 arguments \(heap, count, .*\), got 2/);
  });

  test('non-integer size rejected', () => {
    const heap = new Heap();
    expect(() => native!.gemm(heap.buffer, 1, 2.5, 2, 2, 0, 0, 16, 0, 64, 0, 128, -1)).toThrow(/m must be an integer/);
  });
});

test('module absence reported', () => {
  if (native !== undefined) {
    expect(load.kernels).toBeDefined();
    return;
  }
  expect(load.reason).toMatch(/not built \(run npm run build:native\)|switched off|failed to load/);
});
