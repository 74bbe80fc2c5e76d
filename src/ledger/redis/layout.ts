// Key layout of shared state in Redis: every key's namespace (hash tag, version), the bucket hash size, the layout signature.
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

/** Version of the shared state's keys (short-lived coordination values: circuits, key health, loop state). */
export const SHARED_STATE_VERSION = 1;

/** A hash tag's text: the prefix, or the prefix and a budget group (`{`, `}` and `%` in a group name are %-encoded). */
export function hashTag(prefix: string, group: string | null): string {
  if (!/^[\w.-]+$/.test(prefix)) throw new TypeError('redis: a key prefix may hold letters, digits, "_", "-" and "." only');
  return group === null ? prefix : `${prefix}:${group.replace(/[{}%]/g, (char) => encodeURIComponent(char))}`;
}

/**
 * Where every key of the ledger starts: `{<prefix>}:v3:` for the prefix's own keys (layout, life markers, claims, and
 * every scope when budgets are not grouped), `{<prefix>:<group>}:v3:` for a budget group's (its own hash tag, so its own
 * Cluster slot). Every ledger key is built from one of these; new keys must be too.
 */
export function ledgerNamespace(prefix: string, group: string | null): string {
  return `{${hashTag(prefix, group)}}:v${REDIS_LEDGER_VERSION}:`;
}

/**
 * Where every key of the shared state starts: `{<prefix>}:shared:v1:`, one hash tag beside the ledger's own keys; with
 * a group (state of one agent, e.g. its loop breaker), `{<prefix>:<group>}:shared:v1:`, in that budget group's slot.
 */
export function sharedNamespace(prefix: string, group: string | null = null): string {
  return `{${hashTag(prefix, group)}}:shared:v${SHARED_STATE_VERSION}:`;
}

/** The SCAN patterns that find every key of a prefix, grouped or not. */
export function prefixPatterns(prefix: string): string[] {
  return [`{${prefix}}:*`, `{${prefix}:*}:*`];
}

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
