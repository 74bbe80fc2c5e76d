// Constant-time secret comparison that leaks neither content nor length: both sides are hashed to SHA-256 first.
import { hash, timingSafeEqual } from 'node:crypto';

export function secretDigest(secret: string): Buffer {
  return hash('sha256', secret, 'buffer'); // one-shot: no Hash object per request
}

export function secretsEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(secretDigest(presented), secretDigest(expected));
}

/** Compares against a digest computed once (at load), so a request hashes only what it presented. */
export function secretMatchesDigest(presented: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(secretDigest(presented), expectedDigest);
}
