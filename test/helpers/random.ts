// A seeded pseudo-random generator for tests that draw many cases: a failure names a seed that reproduces it.

/** Numbers in [0, 1), the same sequence for the same seed (a linear congruential generator). */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}
