/**
 * A seeded pseudo-random generator (xoshiro128**) whose whole state is four 32-bit
 * words, so a checkpoint can save and restore it exactly.
 */
export class Random {
  private state: Uint32Array;

  constructor(seed: number | readonly number[]) {
    this.state = new Uint32Array(4);
    if (typeof seed === 'number') {
      // splitmix32 spreads one seed over the four state words; an all-zero state would stick at 0.
      let s = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        s = (s + 0x9e3779b9) >>> 0;
        let z = s;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        this.state[i] = (z ^ (z >>> 16)) >>> 0;
      }
    } else {
      if (seed.length !== 4) throw new Error(`Random state must have 4 words, got ${seed.length}`);
      this.state.set(seed);
    }
  }

  /** Returns the state words, for checkpoints. */
  getState(): number[] {
    return Array.from(this.state);
  }

  /** Returns a uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.state;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Returns a uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Returns a uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new Error(`Random.int needs n > 0, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Returns a standard normal sample (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
