// Masks the provider's key in a stream as it passes, even when a chunk boundary cuts the key in two.
import { maskableKeyBytes, maskKeyBytes } from '../upstream/key-mask.ts';
import type { ProviderKey } from '../upstream/provider.ts';

/**
 * Each chunk is masked whole; its end is held back only when it could be the start of a key (a suffix that is a
 * prefix of one), and goes out with the next chunk. A held tail never delays a whole SSE event: an event ends with a
 * line break, and no key starts with one. Costs one byte search per key and chunk.
 */
export class StreamKeyMask {
  readonly #keys: PreparedKeys;
  #held: Buffer | null = null;

  /** Null when there is nothing to mask (no key, or only ones too short to mask). */
  static for(keys: readonly ProviderKey[]): StreamKeyMask | null {
    let prepared = PREPARED.get(keys);
    if (prepared === undefined) {
      prepared = prepare(keys);
      PREPARED.set(keys, prepared);
    }
    return prepared === null ? null : new StreamKeyMask(prepared);
  }

  private constructor(keys: PreparedKeys) {
    this.#keys = keys;
  }

  /** The bytes that may be relayed now, masked. */
  push(chunk: Buffer): Buffer {
    const joined = this.#held ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#held = null;
    let masked = joined;
    for (const key of this.#keys.bytes) masked = maskKeyBytes(masked, key);
    const keep = this.#possibleKeyStart(masked);
    if (keep === 0) return masked;
    this.#held = masked.subarray(masked.length - keep);
    return masked.subarray(0, masked.length - keep);
  }

  /** What was held back, at the end of the stream (it was not a key). */
  end(): Buffer {
    const rest = this.#held ?? Buffer.alloc(0);
    this.#held = null;
    return rest;
  }

  /** Length of the longest tail of `bytes` that is a proper prefix of a key (0 when none). */
  #possibleKeyStart(bytes: Buffer): number {
    const { bytes: keyBytes, firstBytes, longest } = this.#keys;
    const from = Math.max(0, bytes.length - longest + 1);
    for (let start = from; start < bytes.length; start++) {
      if (!firstBytes.has(bytes[start])) continue;
      const length = bytes.length - start;
      for (const key of keyBytes) {
        if (key.length > length && key.compare(bytes, start, bytes.length, 0, length) === 0) return length;
      }
    }
    return 0;
  }
}

/** A provider's maskable keys as bytes (key-mask.ts), with what the tail check needs, prepared once per key list. */
interface PreparedKeys {
  readonly bytes: readonly Buffer[];
  /** The bytes a key can start with: a tail is compared only from such a byte. */
  readonly firstBytes: ReadonlySet<number>;
  readonly longest: number;
}

const PREPARED = new WeakMap<readonly ProviderKey[], PreparedKeys | null>();

function prepare(all: readonly ProviderKey[]): PreparedKeys | null {
  const bytes = maskableKeyBytes(all);
  if (bytes.length === 0) return null;
  return { bytes, firstBytes: new Set(bytes.map((key) => key[0])), longest: Math.max(...bytes.map((key) => key.length)) };
}
