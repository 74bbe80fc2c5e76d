// Start-up replay's fast path: a settlement line as encodeRecord writes it, decoded from its bytes without JSON.parse.
import { METRIC_COUNT, METRICS, type AmountRow } from '../amounts.ts';
import type { DecodedRecord } from './record.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** Bytes a line must hold somewhere, with their little-endian 32-bit words (at 0, 4, … and one ending at the last byte). */
interface Pattern {
  readonly length: number;
  readonly bytes: Buffer;
  readonly words: Int32Array;
}

function pattern(bytes: Buffer): Pattern {
  const words: number[] = [];
  for (let offset = 0; offset + 4 < bytes.length; offset += 4) words.push(bytes.readInt32LE(offset));
  if (bytes.length >= 4) words.push(bytes.readInt32LE(bytes.length - 4));
  return { length: bytes.length, bytes, words: Int32Array.from(words) };
}

const HEAD = pattern(Buffer.from('{"t":'));
const SCOPES = pattern(Buffer.from(',"s":['));
const AMOUNTS = pattern(Buffer.from('],"a":{'));
const REQUEST = pattern(Buffer.from(',"r":"'));
const METRIC_NAMES = METRICS.map((metric) => pattern(Buffer.from(`"${metric}":`)));
/** At most 15 digits: every such integer is exact in a double, as JSON.parse reads it. */
const MAX_DIGITS = 15;

/**
 * Scope lists kept, at most: one per agent (or agent and shared budget) of a large fleet. Once full, further lists are
 * decoded each time rather than evicting others: a journal cycling through more lists than this would otherwise miss
 * on every line.
 */
export const MAX_CACHED_LISTS = 65_536;

/**
 * Decodes a line in exactly the shape encodeRecord writes: `{"t":<int>,"s":["…",…],"a":{"<metric>":<int>,…}}` with an
 * optional `,"r":"…"` before the last brace, strings without escapes. Anything else (another key order, escapes,
 * numbers JSON writes otherwise, a torn line) is left to decodeRecord: false here. What it does decode, it decodes as
 * decodeRecord would, field for field (test/unit/ledger/journal-record-bytes.test.ts checks it on random lines). The
 * decoded fields are kept on the decoder, valid until the next line: replay allocates nothing per line.
 */
export class RecordBytesDecoder {
  /**
   * The lists kept, by number: their bytes, scopes and FNV-1a hash, found through an open-addressing table of list
   * numbers by hash (-1: empty slot; at most half full). Not a Map: a 32-bit hash is no small integer to V8, and a Map
   * keyed by it boxes one number per line.
   */
  readonly #bytes: Pattern[] = [];
  readonly #scopesOf: (readonly string[])[] = [];
  #hashes = new Int32Array(1024);
  #slots = new Int32Array(2048).fill(-1);
  /** The buffer use() was last given, and a view of it that reads four bytes at once at any offset (matches()). */
  #viewOf: Buffer | null = null;
  #view: DataView = new DataView(new ArrayBuffer(0));
  /** The last line decoded: its time, its scope list (one frozen array per distinct list), its amounts (overwritten). */
  at = 0;
  scopes: readonly string[] = [];
  /** The list's number among those kept (0 to MAX_CACHED_LISTS − 1), -1 for one not kept. */
  list = -1;
  readonly row: AmountRow = new Float64Array(METRIC_COUNT);
  /** Where its request id lies in the buffer, `[idStart, idEnd)`; idStart is -1 when it has none. */
  idStart = -1;
  idEnd = -1;

  /** The buffer the next lines are decoded from (a read chunk): decodeAt reads it four bytes at a time through a view. */
  use(buffer: Buffer): void {
    if (buffer === this.#viewOf) return;
    this.#view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    this.#viewOf = buffer;
  }

  /**
   * Decodes `buffer[start, end)` (one line, no line ending) into the fields above; false when it is not of that shape.
   * `buffer` is the one last given to use().
   */
  decodeAt(buffer: Buffer, start: number, end: number): boolean {
    const view = this.#view;
    if (!matches(buffer, view, end, HEAD, start)) return false;
    const at = readInteger(buffer, end, start + HEAD.length);
    if (at < 0 || !matches(buffer, view, end, SCOPES, integerEnd)) return false;
    const scopesStart = integerEnd + SCOPES.length - 1; // the `[`
    const scopesEnd = scanScopes(buffer, end, scopesStart + 1);
    if (scopesEnd === undefined || !matches(buffer, view, end, AMOUNTS, scopesEnd)) return false;
    const hash = listHash;
    const row = this.row;
    for (let column = 0; column < METRIC_COUNT; column++) row[column] = 0;
    let index = readAmounts(buffer, view, end, scopesEnd + AMOUNTS.length, row);
    if (index === undefined) return false;
    let idStart = -1;
    let idEnd = -1;
    if (index < end && buffer[index] === COMMA) {
      if (!matches(buffer, view, end, REQUEST, index)) return false;
      const close = stringEnd(buffer, end, index + REQUEST.length);
      if (close === undefined || close === index + REQUEST.length) return false;
      idStart = index + REQUEST.length;
      idEnd = close;
      index = close + 1;
    }
    if (index !== end - 1 || buffer[index] !== CLOSE_BRACE) return false;
    this.at = at;
    this.#scopes(buffer, view, scopesStart, scopesEnd, hash);
    this.idStart = idStart;
    this.idEnd = idEnd;
    return true;
  }

  /** One line as a record of its own (tests, one-off reads); undefined when it is not of that shape. */
  decode(line: Buffer): DecodedRecord | undefined {
    this.use(line);
    if (!this.decodeAt(line, 0, line.length)) return undefined;
    const record = { at: this.at, scopes: this.scopes, row: Float64Array.from(this.row) };
    return this.idStart < 0 ? record : { ...record, requestId: line.toString('utf8', this.idStart, this.idEnd) };
  }

  /**
   * The list between `[` (at start) and its `]` (at end) into `scopes` and `list`, decoded once per distinct byte
   * sequence. A list first seen is kept, then found like any other (so that path runs from the first line on: taken
   * first after the JIT optimized this, it threw the code away).
   */
  #scopes(line: Buffer, view: DataView, start: number, end: number, hash: number): void {
    for (;;) {
      const slots = this.#slots;
      const mask = slots.length - 1;
      let slot = hash & mask;
      for (let list = slots[slot]; list >= 0; list = slots[slot]) {
        const bytes = this.#bytes[list];
        if (this.#hashes[list] === hash && bytes.length === end - start && matches(line, view, end, bytes, start)) {
          this.scopes = this.#scopesOf[list];
          this.list = list;
          return;
        }
        slot = (slot + 1) & mask;
      }
      if (!this.#keep(line, start, end, hash, slot)) return;
    }
  }

  /** A list first seen, kept in `slot` (false when MAX_CACHED_LISTS are: then decoded into `scopes` each time). */
  #keep(line: Buffer, start: number, end: number, hash: number, slot: number): boolean {
    const scopes = Object.freeze(JSON.parse(line.toString('utf8', start, end + 1)) as string[]);
    const count = this.#bytes.length;
    if (count >= MAX_CACHED_LISTS) {
      this.scopes = scopes;
      this.list = -1;
      return false;
    }
    // a copy of the bytes: the line's buffer is reused for the next read
    this.#bytes.push(pattern(Buffer.from(line.subarray(start, end))));
    this.#scopesOf.push(scopes);
    if (count === this.#hashes.length) {
      const hashes = new Int32Array(2 * count);
      hashes.set(this.#hashes);
      this.#hashes = hashes;
    }
    this.#hashes[count] = hash;
    this.#slots[slot] = count;
    if (2 * (count + 1) > this.#slots.length) this.#rehash();
    return true;
  }

  /** Twice the slots, every list placed again (the table stays at most half full). */
  #rehash(): void {
    const slots = new Int32Array(2 * this.#slots.length).fill(-1);
    const mask = slots.length - 1;
    for (let list = 0; list < this.#bytes.length; list++) {
      let slot = this.#hashes[list] & mask;
      while (slots[slot] >= 0) slot = (slot + 1) & mask;
      slots[slot] = list;
    }
    this.#slots = slots;
  }
}

/**
 * Whether the line holds `pattern` at `at`, before `end`: four bytes at a time through `view` (a DataView of the line's
 * buffer, same offsets), where comparing byte by byte cost a load and a bounds check per byte.
 */
function matches(line: Buffer, view: DataView, end: number, pattern: Pattern, at: number): boolean {
  const length = pattern.length;
  if (at + length > end) return false;
  if (length < 4) {
    for (let i = 0; i < length; i++) if (line[at + i] !== pattern.bytes[i]) return false;
    return true;
  }
  const words = pattern.words;
  const last = words.length - 1;
  for (let word = 0; word < last; word++) if (view.getInt32(at + 4 * word, true) !== words[word]) return false;
  return view.getInt32(at + length - 4, true) === words[last];
}

/** Where the last readInteger stopped (a module-level result: no object per number on a path run per line). */
let integerEnd = 0;

/** A non-negative integer without leading zeros and of at most 15 digits, as JSON writes it (its end: integerEnd); -1 otherwise. */
function readInteger(line: Buffer, end: number, start: number): number {
  let value = 0;
  let index = start;
  for (; index < end && index - start <= MAX_DIGITS; index++) {
    const byte = line[index];
    if (byte < DIGIT_0 || byte > DIGIT_9) break;
    value = value * 10 + (byte - DIGIT_0);
  }
  const digits = index - start;
  if (digits === 0 || digits > MAX_DIGITS || (digits > 1 && line[start] === DIGIT_0)) return -1;
  integerEnd = index;
  return value;
}

/** The index of the quote closing a string that starts at `start`; undefined on an escape or a control byte. */
function stringEnd(line: Buffer, end: number, start: number): number | undefined {
  for (let index = start; index < end; index++) {
    const byte = line[index];
    if (byte === QUOTE) return index;
    if (byte === BACKSLASH || byte < 0x20) return undefined;
  }
  return undefined;
}

/** The FNV-1a hash of the bytes of the last list scanScopes read (a module-level result, as integerEnd). */
let listHash = 0;

/**
 * `"a","b"]`: one or more non-empty plain strings; the index of the `]`. Hashes the list's bytes (listHash) on the
 * way: each byte is read once.
 */
function scanScopes(line: Buffer, end: number, start: number): number | undefined {
  let hash = 0x811c9dc5;
  let index = start;
  for (;;) {
    if (index >= end || line[index] !== QUOTE) return undefined;
    hash = Math.imul(hash ^ QUOTE, 0x01000193);
    const open = index + 1;
    for (index = open; index < end; index++) {
      const byte = line[index];
      if (byte === QUOTE) break;
      if (byte === BACKSLASH || byte < 0x20) return undefined;
      hash = Math.imul(hash ^ byte, 0x01000193);
    }
    if (index >= end || index === open) return undefined; // no closing quote, or an empty string
    hash = Math.imul(hash ^ QUOTE, 0x01000193);
    index += 1;
    if (index >= end) return undefined;
    const byte = line[index];
    if (byte === CLOSE_BRACKET) {
      listHash = hash;
      return index;
    }
    if (byte !== COMMA) return undefined;
    hash = Math.imul(hash ^ COMMA, 0x01000193);
    index += 1;
  }
}

/** `"metric":<int>,…}` into the row (each metric at most once); the index after the `}`. */
function readAmounts(line: Buffer, view: DataView, end: number, start: number, row: Float64Array): number | undefined {
  let index = start;
  if (index >= end) return undefined;
  if (line[index] === CLOSE_BRACE) return index + 1;
  let seen = 0;
  let next = 0;
  for (;;) {
    const column = metricAt(line, view, end, index, next);
    if (column < 0 || (seen & (1 << column)) !== 0) return undefined;
    seen |= 1 << column;
    next = column + 1;
    const amount = readInteger(line, end, index + METRIC_NAMES[column].length);
    if (amount < 0) return undefined;
    row[column] = amount;
    index = integerEnd;
    if (index >= end) return undefined;
    if (line[index] === CLOSE_BRACE) return index + 1;
    if (line[index] !== COMMA) return undefined;
    index += 1;
  }
}

/** The first four bytes of each metric's `"name":`, by column (compared before the whole name). */
const FIRST_WORDS = Int32Array.from(METRIC_NAMES, (name) => name.words[0]);

/**
 * The column whose `"name":` is at `index`, -1 for none. Tried from column `next` on, wrapping around: encodeRecord
 * writes the metrics in column order, so the first tried is the one there, its first four bytes compared at once.
 */
function metricAt(line: Buffer, view: DataView, end: number, index: number, next: number): number {
  if (index + 4 > end) return -1;
  const word = view.getInt32(index, true);
  for (let tried = 0; tried < METRIC_COUNT; tried++) {
    const column = next + tried < METRIC_COUNT ? next + tried : next + tried - METRIC_COUNT;
    if (FIRST_WORDS[column] === word && matches(line, view, end, METRIC_NAMES[column], index)) return column;
  }
  return -1;
}
