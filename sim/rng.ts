// The simulator's only source of randomness: a seeded Alea generator (seedrandom) with named child
// streams. One seed string fixes every draw of a run.
// Invariants: the same seed yields the same sequence of draws; `child(name)` depends only on this
// generator's seed and the name, never on how many draws the parent has made, so adding a draw in
// one subsystem does not shift the stream of another. `chance(p)` with p <= 0 or p >= 1 and
// `exponential(0)` consume no draw, so a fault that is switched off costs nothing.

import seedrandom from 'seedrandom';

const TWO_POW_32 = 0x1_0000_0000;

export class Rng {
  readonly seed: string;
  private readonly next: seedrandom.PRNG;

  constructor(seed: string) {
    this.seed = seed;
    this.next = seedrandom.alea(seed);
  }

  /** A float in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.next();
  }

  /** An integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo) {
      throw new Error(`Rng.int: expected safe integers with lo <= hi, got lo=${lo} hi=${hi}`);
    }
    const span = hi - lo + 1;
    // 32 bits of resolution would bias wide ranges; pay for a 53-bit draw only when needed.
    const unit = span > TWO_POW_32 ? this.next.double() : this.next();
    return lo + Math.floor(unit * span);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  /** A float in [lo, hi). */
  range(lo: number, hi: number): number {
    if (!(hi >= lo)) throw new Error(`Rng.range: expected lo <= hi, got lo=${lo} hi=${hi}`);
    return lo + this.next() * (hi - lo);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: expected a non-empty array');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Fisher–Yates, in place; returns the same array for chaining. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const swap = items[i] as T;
      items[i] = items[j] as T;
      items[j] = swap;
    }
    return items;
  }

  /** An exponentially distributed float with the given mean (>= 0). */
  exponential(mean: number): number {
    if (!(mean >= 0)) throw new Error(`Rng.exponential: expected mean >= 0, got ${mean}`);
    if (mean === 0) return 0;
    // 1 - float() lies in (0, 1], so the logarithm is finite.
    return -mean * Math.log(1 - this.next());
  }

  /**
   * An independent stream named `${seed}/${name}`. Draws nothing from this generator. Asking twice
   * for the same name yields two generators with the same sequence: give each subsystem its own name.
   */
  child(name: string): Rng {
    return new Rng(`${this.seed}/${name}`);
  }
}
