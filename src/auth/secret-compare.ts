// Constant-time secret comparison that leaks neither content nor length: both sides are hashed to SHA-256 first.
import { createHash, timingSafeEqual } from 'node:crypto';

export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function secretsEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(secretDigest(presented), secretDigest(expected));
}

/** Compares against a digest computed once (at load), so a request hashes only what it presented. */
export function secretMatchesDigest(presented: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(secretDigest(presented), expectedDigest);
}
