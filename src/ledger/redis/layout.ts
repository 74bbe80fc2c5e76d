// Key layout of the Redis ledger: its version, the hash size, and the signature every script compares.
import type { BucketLevel } from '../bucket-levels.ts';

/** Version of the key layout and script behaviour; part of every key, so two versions never share (or mix) state. */
export const REDIS_LEDGER_VERSION = 3;

/**
 * Buckets per Redis hash; each hash expires as a whole once its newest bucket is older than the level keeps. A hash
 * also holds one sum per block of BLOCK_BUCKETS buckets and one sum of everything: 112 + 7 + 1 = 120 fields, under the
 * default hash-max-listpack-entries (128), so it stays in the compact encoding. common.v3.lua holds the same numbers.
 */
export const EPOCH_BUCKETS = 112;
export const BLOCK_BUCKETS = 16;

/** The layout as one string: stored in Redis by the first writer and compared by every script call. */
export function layoutSignature(levels: readonly BucketLevel[]): string {
  const body = levels.map((level) => `${level.bucketMs}:${level.spanMs}:${level.keepMs}`).join(',');
  return `v${REDIS_LEDGER_VERSION}|e${EPOCH_BUCKETS}.${BLOCK_BUCKETS}|${body}`;
}

/** The levels as the scripts take them: bucketMs, spanMs, keepMs per level, little-endian doubles (no text to parse). */
export function packedLevels(levels: readonly BucketLevel[]): Buffer {
  const packed = Buffer.alloc(levels.length * 24);
  levels.forEach((level, index) => {
    packed.writeDoubleLE(level.bucketMs, index * 24);
    packed.writeDoubleLE(level.spanMs, index * 24 + 8);
    packed.writeDoubleLE(level.keepMs, index * 24 + 16);
  });
  return packed;
}
