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
const HEAD = Buffer.from('{"t":');
const SCOPES = Buffer.from(',"s":[');
const AMOUNTS = Buffer.from('],"a":{');
const REQUEST = Buffer.from(',"r":"');
const METRIC_NAMES = METRICS.map((metric) => Buffer.from(`"${metric}":`));
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
  /** FNV-1a hash of a list's bytes → the list (its bytes compared on a hit: a collision only costs a decode). */
  readonly #lists = new Map<number, { readonly bytes: Buffer; readonly scopes: readonly string[]; readonly index: number }>();
  /** The last line decoded: its time, its scope list (one frozen array per distinct list), its amounts (overwritten). */
  at = 0;
  scopes: readonly string[] = [];
  /** The list's number among those kept (0 to MAX_CACHED_LISTS − 1), -1 for one not kept. */
  list = -1;
  readonly row: AmountRow = new Float64Array(METRIC_COUNT);
  /** Where its request id lies in the buffer, `[idStart, idEnd)`; idStart is -1 when it has none. */
  idStart = -1;
  idEnd = -1;

  /** Decodes `buffer[start, end)` (one line, no line ending) into the fields above; false when it is not of that shape. */
  decodeAt(buffer: Buffer, start: number, end: number): boolean {
    if (!startsWith(buffer, end, HEAD, start)) return false;
    const at = readInteger(buffer, end, start + HEAD.length);
    if (at < 0 || !startsWith(buffer, end, SCOPES, integerEnd)) return false;
    const scopesStart = integerEnd + SCOPES.length - 1; // the `[`
    const scopesEnd = scanScopes(buffer, end, scopesStart + 1);
    if (scopesEnd === undefined || !startsWith(buffer, end, AMOUNTS, scopesEnd)) return false;
    const row = this.row;
    for (let column = 0; column < METRIC_COUNT; column++) row[column] = 0;
    let index = readAmounts(buffer, end, scopesEnd + AMOUNTS.length, row);
    if (index === undefined) return false;
    let idStart = -1;
    let idEnd = -1;
    if (index < end && buffer[index] === COMMA) {
      if (!startsWith(buffer, end, REQUEST, index)) return false;
      const close = stringEnd(buffer, end, index + REQUEST.length);
      if (close === undefined || close === index + REQUEST.length) return false;
      idStart = index + REQUEST.length;
      idEnd = close;
      index = close + 1;
    }
    if (index !== end - 1 || buffer[index] !== CLOSE_BRACE) return false;
    this.at = at;
    this.#scopes(buffer, scopesStart, scopesEnd);
    this.idStart = idStart;
    this.idEnd = idEnd;
    return true;
  }

  /** One line as a record of its own (tests, one-off reads); undefined when it is not of that shape. */
  decode(line: Buffer): DecodedRecord | undefined {
    if (!this.decodeAt(line, 0, line.length)) return undefined;
    const record = { at: this.at, scopes: this.scopes, row: Float64Array.from(this.row) };
    return this.idStart < 0 ? record : { ...record, requestId: line.toString('utf8', this.idStart, this.idEnd) };
  }

  /** The list between `[` (at start) and its `]` (at end) into `scopes` and `list`, decoded once per distinct byte sequence. */
  #scopes(line: Buffer, start: number, end: number): void {
    let hash = 0x811c9dc5;
    for (let index = start; index < end; index++) hash = Math.imul(hash ^ line[index], 0x01000193);
    const cached = this.#lists.get(hash);
    if (cached !== undefined && sameBytes(line, start, end, cached.bytes)) {
      this.scopes = cached.scopes;
      this.list = cached.index;
      return;
    }
    this.scopes = Object.freeze(JSON.parse(line.toString('utf8', start, end + 1)) as string[]);
    this.list = -1;
    if (cached !== undefined || this.#lists.size >= MAX_CACHED_LISTS) return;
    // a copy of the bytes: the line's buffer is reused for the next read
    this.list = this.#lists.size;
    this.#lists.set(hash, { bytes: Buffer.from(line.subarray(start, end)), scopes: this.scopes, index: this.list });
  }
}

/** Whether line[start, end) holds exactly `bytes` (short lists: a loop beats a native call). */
function sameBytes(line: Buffer, start: number, end: number, bytes: Buffer): boolean {
  if (end - start !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (line[start + i] !== bytes[i]) return false;
  return true;
}

function startsWith(line: Buffer, end: number, prefix: Buffer, at: number): boolean {
  if (at + prefix.length > end) return false;
  for (let i = 0; i < prefix.length; i++) if (line[at + i] !== prefix[i]) return false;
  return true;
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

/** `"a","b"]`: one or more non-empty plain strings; the index of the `]`. */
function scanScopes(line: Buffer, end: number, start: number): number | undefined {
  let index = start;
  for (;;) {
    if (index >= end || line[index] !== QUOTE) return undefined;
    const close = stringEnd(line, end, index + 1);
    if (close === undefined || close === index + 1) return undefined;
    index = close + 1;
    if (index >= end) return undefined;
    if (line[index] === CLOSE_BRACKET) return index;
    if (line[index] !== COMMA) return undefined;
    index += 1;
  }
}

/** `"metric":<int>,…}` into the row (each metric at most once); the index after the `}`. */
function readAmounts(line: Buffer, end: number, start: number, row: Float64Array): number | undefined {
  let index = start;
  if (index >= end) return undefined;
  if (line[index] === CLOSE_BRACE) return index + 1;
  let seen = 0;
  for (;;) {
    const column = metricAt(line, end, index);
    if (column < 0 || (seen & (1 << column)) !== 0) return undefined;
    seen |= 1 << column;
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

/** Columns by the first letter of their metric's name (most letters start one name): a name is compared once, not in turn. */
const COLUMNS_BY_LETTER: readonly (readonly number[])[] = Array.from({ length: 256 }, (_, byte) =>
  METRIC_NAMES.flatMap((name, column) => (name[1] === byte ? [column] : [])),
);

function metricAt(line: Buffer, end: number, index: number): number {
  if (index + 1 >= end) return -1;
  const columns = COLUMNS_BY_LETTER[line[index + 1]];
  for (let i = 0; i < columns.length; i++) if (startsWith(line, end, METRIC_NAMES[columns[i]], index)) return columns[i];
  return -1;
}
