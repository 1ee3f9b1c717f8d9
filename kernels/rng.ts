/**
 * Counter-based random numbers: every draw is a pure function of (seed, a, b, c), so the
 * same network grows whatever the thread count or backend, and a WGSL twin
 * (`kernels/rng.wgsl`) can produce the same values. No Math.random anywhere in the core.
 */

/** PCG-style 32-bit hash (permuted congruential step + xorshift output). */
export function pcgHash(input: number): number {
  const state = (Math.imul(input >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** A uint32 derived from a seed and up to three counters. */
export function rand32(seed: number, a: number, b = 0, c = 0): number {
  let h = pcgHash((seed ^ 0x9e3779b9) >>> 0);
  h = pcgHash((h ^ a) >>> 0);
  h = pcgHash((h ^ Math.imul(b >>> 0, 0x85ebca6b)) >>> 0);
  return pcgHash((h ^ Math.imul(c >>> 0, 0xc2b2ae35)) >>> 0);
}

/** A float in [0, 1) derived like {@link rand32}. */
export function randUnit(seed: number, a: number, b = 0, c = 0): number {
  return rand32(seed, a, b, c) / 4294967296;
}

/** Streams of draws, so the same counters used for different purposes never collide. */
export const RngStream = {
  hexagonTargets: 1,
  sectionTarget: 2,
  sectionBlock: 3,
  synapseInit: 4,
  splitTarget: 5,
  splitBlock: 6,
} as const;
