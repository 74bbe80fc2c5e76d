// Bucket levels of the Redis ledger: which bucket sizes usage is written at, how long each is kept, which serves a window.

/** Version of the key layout and script behaviour; part of every key, so two versions never share (or mix) state. */
export const REDIS_LEDGER_VERSION = 1;

/** Coarser bucket sizes above the finest one (`bucketMs`): 15 s, 5 min, 1 h, 1 day. */
export const COARSER_BUCKETS_MS: readonly number[] = [15_000, 300_000, 3_600_000, 86_400_000];

/** A window is served by the finest level that covers it with at most this many buckets (bounds the cost of a check). */
export const MAX_BUCKETS_PER_CHECK = 1440;

/**
 * Buckets per Redis hash; each hash expires as a whole once its newest bucket is older than the level keeps. A hash
 * also holds one sum per block of BLOCK_BUCKETS buckets and one sum of everything: 112 + 7 + 1 = 120 fields, under the
 * default hash-max-listpack-entries (128), so it stays in the compact encoding.
 */
export const EPOCH_BUCKETS = 112;
export const BLOCK_BUCKETS = 16;

export interface BucketLevel {
  readonly bucketMs: number;
  /** Longest window this level serves; 0 = unbounded (the coarsest level). */
  readonly spanMs: number;
  /** How long after a bucket ends its usage stays in Redis. */
  readonly keepMs: number;
}

export interface LayoutOptions {
  /** Finest bucket size (default 1000 ms): Retry-After and reset are exact to this for windows up to 1440 buckets. */
  readonly bucketMs: number;
  /** Usage older than this is dropped; it must exceed the longest window. */
  readonly retentionMs: number;
}

/**
 * Levels from the finest bucket up, stopping at the first level that covers the retention within its bucket bound.
 * With the defaults (1 s, 35 days): 1 s (windows ≤ 24 min), 15 s (≤ 6 h), 5 min (≤ 5 days), 1 h (any longer window).
 */
export function bucketLevels(options: LayoutOptions): BucketLevel[] {
  const { bucketMs, retentionMs } = options;
  if (!Number.isSafeInteger(bucketMs) || bucketMs < 10 || bucketMs > 60_000) {
    throw new RangeError('redis ledger: bucketMs must be an integer between 10 and 60000');
  }
  if (!Number.isSafeInteger(retentionMs) || retentionMs < bucketMs) {
    throw new RangeError('redis ledger: retentionMs must be an integer of at least one bucket');
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

/** The layout as one string: stored in Redis by the first writer and compared by every script call. */
export function layoutSignature(levels: readonly BucketLevel[]): string {
  const body = levels.map((level) => `${level.bucketMs}:${level.spanMs}:${level.keepMs}`).join(',');
  return `v${REDIS_LEDGER_VERSION}|e${EPOCH_BUCKETS}.${BLOCK_BUCKETS}|${body}`;
}

/** Index of the level serving a window (mirrors levelFor in common.v1.lua; used by tests and the docs). */
export function levelIndexFor(levels: readonly BucketLevel[], windowMs: number): number {
  for (let index = 0; index < levels.length; index++) {
    const span = levels[index].spanMs;
    if (span === 0 || windowMs <= span) return index;
  }
  return levels.length - 1;
}
