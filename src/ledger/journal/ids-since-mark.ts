// Replay's record of the request ids since the journal's last watermark: their bytes copied into one buffer, strings made once at the end.
import type { DecodedMark } from './record.ts';

/** What start-up reconciliation needs of the journal: its last watermark and the calls it vouches for by id since. */
export interface JournaledCalls {
  /** Null when the journal has no watermark (written by an older version). */
  readonly watermark: number | null;
  readonly requestIds: ReadonlySet<string>;
}

/**
 * Every charge line carries its request id, but only those after the last watermark matter (reconcile.ts), and which
 * watermark is the last is known only at the end: a string and a set entry per line cost more than decoding the line
 * did. The ids' bytes go into one growing buffer instead, emptied at each watermark, and become strings once.
 */
export class IdsSinceMark {
  #bytes = Buffer.allocUnsafe(1 << 16);
  #length = 0;
  #ends = new Int32Array(1024);
  #count = 0;
  /** Ids of lines decoded as JSON (not in this module's byte form). */
  #strings: string[] = [];
  #watermark: number | null = null;
  #marked: readonly string[] = [];

  /**
   * Room for `ids` more ids of `bytes` bytes in all (a read chunk's lines: at most its length and its line count), so
   * addBytes, on replay's hot path, never grows the arrays (a path first taken late costs the JIT a rebuild).
   */
  reserve(bytes: number, ids: number): void {
    if (this.#length + bytes > this.#bytes.length) {
      const larger = Buffer.allocUnsafe(Math.max(this.#bytes.length * 2, this.#length + bytes));
      this.#bytes.copy(larger, 0, 0, this.#length);
      this.#bytes = larger;
    }
    if (this.#count + ids > this.#ends.length) {
      const ends = new Int32Array(Math.max(this.#ends.length * 2, this.#count + ids));
      ends.set(this.#ends.subarray(0, this.#count));
      this.#ends = ends;
    }
  }

  /** An id lying in `buffer[start, end)` (UTF-8, as the line holds it). */
  addBytes(buffer: Buffer, start: number, end: number): void {
    this.reserve(end - start, 1);
    // byte by byte: an id is short, and Buffer#copy makes a view of the source (garbage) on each call
    const bytes = this.#bytes;
    let at = this.#length;
    for (let index = start; index < end; index++) bytes[at++] = buffer[index];
    this.#length = at;
    this.#ends[this.#count++] = at;
  }

  add(id: string): void {
    this.#strings.push(id);
  }

  /** A watermark vouches for everything above it: the ids before it are no longer needed, its own list is. */
  mark(mark: DecodedMark): void {
    this.#watermark = mark.watermark;
    this.#marked = mark.requestIds;
    this.#length = 0;
    this.#count = 0;
    this.#strings = [];
  }

  result(): JournaledCalls {
    const requestIds = new Set(this.#marked);
    let start = 0;
    for (let index = 0; index < this.#count; index++) {
      const end = this.#ends[index];
      requestIds.add(this.#bytes.toString('utf8', start, end));
      start = end;
    }
    for (const id of this.#strings) requestIds.add(id);
    return { watermark: this.#watermark, requestIds };
  }
}
