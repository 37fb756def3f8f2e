/**
 * A small seeded pseudo-random generator for fuzz tests (mulberry32): the
 * same seed gives the same cases, so a failure is reproduced by running again
 * with the seed it printed.
 */

/** A seeded generator and the picks a fuzz test makes with it. */
export interface Prng {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** `length` random bytes. */
  bytes(length: number): Buffer;
}

/** mulberry32 from a 32-bit seed. */
export function makePrng(seed: number): Prng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    seed: seed >>> 0,
    next,
    int,
    chance: (p) => next() < p,
    pick<T>(items: readonly T[]): T {
      return items[int(0, items.length - 1)] as T;
    },
    bytes: (length) => Buffer.from(Array.from({ length }, () => int(0, 255))),
  };
}

/** The seed a fuzz run uses unless told otherwise: `npm test` is the same run every time. */
export const DEFAULT_FUZZ_SEED = 2026;

/**
 * The seed of a fuzz run: `process.env[name]` when set (an integer, to
 * reproduce a failure, or `random` for a fresh seed from the clock), else
 * {@link DEFAULT_FUZZ_SEED}.
 */
export function fuzzSeed(name: string): number {
  const given = process.env[name];
  if (given === undefined || given === '') return DEFAULT_FUZZ_SEED;
  if (given === 'random') return (Date.now() ^ (process.pid << 16)) >>> 0;
  const seed = Number(given);
  if (!Number.isInteger(seed)) throw new Error(`${name} must be an integer or "random", got ${given}`);
  return seed >>> 0;
}
