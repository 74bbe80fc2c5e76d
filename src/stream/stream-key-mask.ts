// Masks the provider's key in a stream as it passes, whatever the chunk cuts (a key, or an escape, cut in two).
import { KeyScanner } from '../upstream/key-windows.ts';
import { keyWindows } from '../upstream/key-mask.ts';
import type { ProviderKey } from '../upstream/provider.ts';

/**
 * The same masking as a whole answer gets (key-mask.ts), chunk by chunk: a chunk's end is held back while it could
 * still be part of a key run (at most the run's last 11 characters, or a span already masked that may still grow),
 * and goes out with the next chunk. A held tail never delays a whole SSE event: an event ends with a line break, and
 * no key holds one.
 */
export class StreamKeyMask {
  readonly #scanner: KeyScanner;

  /** Null when there is nothing to mask (no key, or only ones too short to mask). */
  static for(keys: readonly ProviderKey[]): StreamKeyMask | null {
    const windows = keyWindows(keys);
    return windows === null ? null : new StreamKeyMask(new KeyScanner(windows));
  }

  private constructor(scanner: KeyScanner) {
    this.#scanner = scanner;
  }

  /** The bytes that may be relayed now, masked. */
  push(chunk: Buffer): Buffer {
    return this.#scanner.push(chunk);
  }

  /** What was held back, at the end of the stream. */
  end(): Buffer {
    return this.#scanner.end();
  }
}
