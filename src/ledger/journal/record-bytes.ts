// Start-up replay's fast path: a settlement line as encodeRecord writes it, decoded from its bytes without JSON.parse.
import { METRIC_COUNT, METRICS } from '../amounts.ts';
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
const MAX_CACHED_LISTS = 65_536;

/**
 * Decodes a line in exactly the shape encodeRecord writes: `{"t":<int>,"s":["…",…],"a":{"<metric>":<int>,…}}` with an
 * optional `,"r":"…"` before the last brace, strings without escapes. Anything else (another key order, escapes,
 * numbers JSON writes otherwise, a torn line) is left to decodeRecord: undefined here. What it does decode, it decodes as
 * decodeRecord would, field for field (test/unit/ledger/journal-record-bytes.test.ts checks it on random lines).
 */
export class RecordBytesDecoder {
  /** FNV-1a hash of a list's bytes → the list (its bytes compared on a hit: a collision only costs a decode). */
  readonly #lists = new Map<number, { readonly bytes: Buffer; readonly scopes: readonly string[] }>();

  decode(line: Buffer): DecodedRecord | undefined {
    if (!startsWith(line, HEAD, 0)) return undefined;
    const at = readInteger(line, HEAD.length);
    if (at < 0 || !startsWith(line, SCOPES, integerEnd)) return undefined;
    const scopesStart = integerEnd + SCOPES.length - 1; // the `[`
    const scopesEnd = scanScopes(line, scopesStart + 1);
    if (scopesEnd === undefined || !startsWith(line, AMOUNTS, scopesEnd)) return undefined;
    const row = new Float64Array(METRIC_COUNT);
    let index = readAmounts(line, scopesEnd + AMOUNTS.length, row);
    if (index === undefined) return undefined;
    let requestId: string | undefined;
    if (line[index] === COMMA) {
      if (!startsWith(line, REQUEST, index)) return undefined;
      const close = stringEnd(line, index + REQUEST.length);
      if (close === undefined || close === index + REQUEST.length) return undefined;
      requestId = line.toString('utf8', index + REQUEST.length, close);
      index = close + 1;
    }
    if (index !== line.length - 1 || line[index] !== CLOSE_BRACE) return undefined;
    const scopes = this.#scopes(line, scopesStart, scopesEnd);
    return requestId === undefined ? { at, scopes, row } : { at, scopes, row, requestId };
  }

  /** The list between `[` (at start) and its `]` (at end), decoded once per distinct byte sequence. */
  #scopes(line: Buffer, start: number, end: number): readonly string[] {
    let hash = 0x811c9dc5;
    for (let index = start; index < end; index++) hash = Math.imul(hash ^ line[index], 0x01000193);
    const cached = this.#lists.get(hash);
    if (cached !== undefined && sameBytes(line, start, end, cached.bytes)) return cached.scopes;
    const scopes = Object.freeze(JSON.parse(line.toString('utf8', start, end + 1)) as string[]);
    // a copy of the bytes: the line's buffer is reused for the next read
    if (cached === undefined && this.#lists.size < MAX_CACHED_LISTS) this.#lists.set(hash, { bytes: Buffer.from(line.subarray(start, end)), scopes });
    return scopes;
  }
}

/** Whether line[start, end) holds exactly `bytes` (short lists: a loop beats a native call). */
function sameBytes(line: Buffer, start: number, end: number, bytes: Buffer): boolean {
  if (end - start !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (line[start + i] !== bytes[i]) return false;
  return true;
}

function startsWith(line: Buffer, prefix: Buffer, at: number): boolean {
  if (at + prefix.length > line.length) return false;
  for (let i = 0; i < prefix.length; i++) if (line[at + i] !== prefix[i]) return false;
  return true;
}

/** Where the last readInteger stopped (a module-level result: no object per number on a path run per line). */
let integerEnd = 0;

/** A non-negative integer without leading zeros and of at most 15 digits, as JSON writes it (its end: integerEnd); -1 otherwise. */
function readInteger(line: Buffer, start: number): number {
  let value = 0;
  let index = start;
  for (; index < line.length && index - start <= MAX_DIGITS; index++) {
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
function stringEnd(line: Buffer, start: number): number | undefined {
  for (let index = start; index < line.length; index++) {
    const byte = line[index];
    if (byte === QUOTE) return index;
    if (byte === BACKSLASH || byte < 0x20) return undefined;
  }
  return undefined;
}

/** `"a","b"]`: one or more non-empty plain strings; the index of the `]`. */
function scanScopes(line: Buffer, start: number): number | undefined {
  let index = start;
  for (;;) {
    if (line[index] !== QUOTE) return undefined;
    const close = stringEnd(line, index + 1);
    if (close === undefined || close === index + 1) return undefined;
    index = close + 1;
    if (line[index] === CLOSE_BRACKET) return index;
    if (line[index] !== COMMA) return undefined;
    index += 1;
  }
}

/** `"metric":<int>,…}` into the row (each metric at most once); the index after the `}`. */
function readAmounts(line: Buffer, start: number, row: Float64Array): number | undefined {
  let index = start;
  if (line[index] === CLOSE_BRACE) return index + 1;
  let seen = 0;
  for (;;) {
    const column = metricAt(line, index);
    if (column < 0 || (seen & (1 << column)) !== 0) return undefined;
    seen |= 1 << column;
    const amount = readInteger(line, index + METRIC_NAMES[column].length);
    if (amount < 0) return undefined;
    row[column] = amount;
    index = integerEnd;
    if (line[index] === CLOSE_BRACE) return index + 1;
    if (line[index] !== COMMA) return undefined;
    index += 1;
  }
}

function metricAt(line: Buffer, index: number): number {
  for (let column = 0; column < METRIC_NAMES.length; column++) if (startsWith(line, METRIC_NAMES[column], index)) return column;
  return -1;
}
