// Memory for many scopes' event logs carved from a few large blocks: start-up replay sizes thousands of logs at once.

/** Bytes of each block (1 MiB); a request over an eighth of it gets a block of its own. */
const BLOCK_BYTES = 1 << 20;

/**
 * Hands out 8-byte-aligned parts of shared blocks, not zeroed. One malloc and one ArrayBuffer per 5,000-scope replay's
 * logs cost ~0.1 s of a 1 s replay (the allocations, their external-memory accounting and collection), where a block
 * per megabyte is nothing. A block stays alive while any log still uses its part: a log that grows later moves out
 * (EventLog.makeRoom) and leaves its part unused, so at most about the replayed logs' bytes are held twice.
 */
export class LogArena {
  #block = new ArrayBuffer(0);
  #used = 0;
  /** The buffer the last take() carved from. */
  buffer: ArrayBuffer = this.#block;

  /** A part of `bytes` (its offset in `buffer`, which this sets). */
  take(bytes: number): number {
    const size = (bytes + 7) & ~7;
    if (size > BLOCK_BYTES / 8) {
      this.buffer = Buffer.allocUnsafeSlow(size).buffer;
      return 0;
    }
    if (this.#used + size > this.#block.byteLength) {
      this.#block = Buffer.allocUnsafeSlow(BLOCK_BYTES).buffer;
      this.#used = 0;
    }
    this.buffer = this.#block;
    const offset = this.#used;
    this.#used += size;
    return offset;
  }
}
