// Decodes a byte stream to text piece by piece, carrying a character cut between two pieces over to the next one.

/**
 * The text of each piece as `Buffer.toString('utf8')` reads it, except that a UTF-8 sequence the piece ends inside is
 * held back and read with the next piece: the pieces' texts joined are the whole stream's text, decoded in one go. No
 * decoder object per stream (a TextDecoder costs ~2 µs to make and ~3× more per piece than `toString`); the carry
 * is at most 3 bytes.
 */
export class Utf8Pieces {
  #carry: Buffer | null = null;

  /** The text of the piece, with what the last piece held back before it and without what it holds back itself. */
  text(piece: Buffer): string {
    let bytes = piece;
    if (this.#carry !== null) {
      bytes = Buffer.concat([this.#carry, piece]);
      this.#carry = null;
    }
    const cut = completeLength(bytes);
    if (cut < bytes.length) this.#carry = Buffer.from(bytes.subarray(cut));
    return bytes.toString('utf8', 0, cut);
  }

  /** What is held back at the end of the stream (a sequence cut short reads as U+FFFD), or ''. */
  end(): string {
    const carry = this.#carry;
    this.#carry = null;
    return carry === null ? '' : carry.toString('utf8');
  }
}

/**
 * The length of the bytes up to a UTF-8 sequence that starts in the last 3 bytes and needs more than is left: the
 * whole length when none does. Only a lead byte that can start a sequence counts (C2–F4); anything else is a
 * replacement character whatever follows, and is decoded now.
 */
function completeLength(bytes: Buffer): number {
  const length = bytes.length;
  for (let back = 1; back <= 3 && back <= length; back++) {
    const byte = bytes[length - back] ?? 0;
    if (byte < 0x80) return length; // ASCII: nothing is cut
    if (byte < 0xc0) continue; // a continuation byte: its lead is further back
    const needs = byte >= 0xc2 && byte <= 0xdf ? 2 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xf0 && byte <= 0xf4 ? 4 : 1;
    return needs > back ? length - back : length;
  }
  return length;
}
