// The ladder of time resolutions both ledgers hold usage at: 1 s for short windows, coarser buckets as usage ages.

/** Coarser bucket sizes above the finest one (`bucketMs`): 15 s, 5 min, 1 h, 1 day. */
export const COARSER_BUCKETS_MS: readonly number[] = [15_000, 300_000, 3_600_000, 86_400_000];

/** A window is served by the finest level that covers it with at most this many buckets (bounds the cost of a check). */
export const MAX_BUCKETS_PER_CHECK = 1440;

export interface BucketLevel {
  readonly bucketMs: number;
  /** Longest window this level serves; 0 = unbounded (the coarsest level). */
  readonly spanMs: number;
  /** How long after a bucket ends its usage stays at this level (the coarsest keeps the whole retention). */
  readonly keepMs: number;
}

export interface LevelOptions {
  /** Finest bucket size (default 1000 ms): Retry-After and reset are exact to this for windows up to 1440 buckets. */
  readonly bucketMs: number;
  /** Usage older than this is dropped; it must exceed the longest window. */
  readonly retentionMs: number;
}

/**
 * Levels from the finest bucket up, stopping at the first level that covers the retention within its bucket bound.
 * With the defaults (1 s, 35 days): 1 s (windows ≤ 24 min), 15 s (≤ 6 h), 5 min (≤ 5 days), 1 h (any longer window).
 */
export function bucketLevels(options: LevelOptions): BucketLevel[] {
  const { bucketMs, retentionMs } = options;
  if (!Number.isSafeInteger(bucketMs) || bucketMs < 10 || bucketMs > 60_000) {
    throw new RangeError('ledger: bucketMs must be an integer between 10 and 60000');
  }
  if (!Number.isSafeInteger(retentionMs) || retentionMs < bucketMs) {
    throw new RangeError('ledger: retentionMs must be an integer of at least one bucket');
  }
  const sizes = [bucketMs, ...COARSER_BUCKETS_MS.filter((size) => size > bucketMs)];
  const levels: BucketLevel[] = [];
  for (const size of sizes) {
    const spanMs = size * MAX_BUCKETS_PER_CHECK;
    if (spanMs >= retentionMs || size === sizes[sizes.length - 1]) {
      levels.push({ bucketMs: size, spanMs: 0, keepMs: retentionMs });
      break;
    }
    levels.push({ bucketMs: size, spanMs, keepMs: spanMs });
  }
  return levels;
}

/** Index of the level serving a window (mirrors levelFor in the Redis ledger's common.v3.lua). */
export function levelIndexFor(levels: readonly BucketLevel[], windowMs: number): number {
  for (let index = 0; index < levels.length; index++) {
    const span = levels[index].spanMs;
    if (span === 0 || windowMs <= span) return index;
  }
  return levels.length - 1;
}

/** Usage whose bucket of `bucketMs` ended more than `afterMs` ago may be held as one event per bucket. */
export interface CoarseningStep {
  readonly afterMs: number;
  readonly bucketMs: number;
}

/**
 * When held usage may move to a coarser grain, coarsest step first: once older than the longest window level i serves,
 * at level i+1's bucket size. A window then counts usage at most one bucket of its own level longer than exactly and
 * never shorter, the Redis ledger's guarantee: 1 s for windows up to 24 min, 15 s up to 6 h, 5 min up to 5 days, 1 h
 * beyond (with the default 1 s finest bucket and 35-day retention).
 */
export function coarseningSteps(levels: readonly BucketLevel[]): CoarseningStep[] {
  const steps: CoarseningStep[] = [];
  for (let index = 0; index + 1 < levels.length; index++) {
    steps.push({ afterMs: levels[index].spanMs, bucketMs: levels[index + 1].bucketMs });
  }
  return steps.reverse();
}
