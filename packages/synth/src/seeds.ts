import { Random } from '@mcm/common';

/** Independent random streams of one run. Each customer has its own, so files can be made in any order. */
export const STREAM_CATALOG = 1;
export const STREAM_CUSTOMER = 2;

/**
 * Creates the generator for (`seed`, `stream`, `index`). The four state words are
 * bijective mixes of different inputs, so two different triples never share a state,
 * unlike a single 32-bit derived seed, which collides after about 65k customers.
 */
export function createStreamRandom(seed: number, stream: number, index: number): Random {
  const state = [
    mix32(index ^ 0x243f6a88),
    mix32(seed ^ 0x85a308d3),
    mix32((stream * 0x9e3779b9 + index) >>> 0),
    (mix32((seed + Math.imul(stream, 0x7f4a7c15)) >>> 0) | 1) >>> 0,
  ];
  const random = new Random(state);

  // The first outputs of xoshiro from nearby states are correlated, and a short warm-up decorrelates them.
  for (let i = 0; i < 8; i++) random.nextUint32();
  return random;
}

/** Mixes a 32-bit integer with the MurmurHash3 finaliser, a bijection with good avalanche. */
function mix32(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
