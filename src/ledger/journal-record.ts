// One journal line: a settlement (time, scopes, amounts) as compact JSON, and its strict decoding for replay.
import type { Amounts } from './ledger.ts';
import { METRIC_COUNT, METRICS, toRow, type AmountRow } from './amounts.ts';

/** `{"t":<ms since epoch>,"s":[<scopes>],"a":{<non-zero amounts>}}` */
export interface JournalRecord {
  readonly t: number;
  readonly s: readonly string[];
  readonly a: Amounts;
}

export interface DecodedRecord {
  readonly at: number;
  readonly scopes: readonly string[];
  readonly row: AmountRow;
}

/** The line to append, newline included. */
export function encodeRecord(at: number, scopes: readonly string[], row: AmountRow): string {
  // Built by hand (same output as JSON.stringify of a JournalRecord): this runs once per settlement.
  let amounts = '';
  for (let column = 0; column < METRIC_COUNT; column++) {
    if (row[column] !== 0) amounts += `${amounts ? ',' : ''}"${METRICS[column]}":${row[column]}`;
  }
  return `{"t":${at},"s":${JSON.stringify(scopes)},"a":{${amounts}}}\n`;
}

/** Parses and validates one line; null for anything malformed (a torn write, a foreign line). */
export function decodeRecord(line: string): DecodedRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { t, s, a } = value as Record<string, unknown>;
  if (typeof t !== 'number' || !Number.isFinite(t)) return null;
  if (!Array.isArray(s) || s.length === 0 || !s.every((scope) => typeof scope === 'string' && scope.length > 0)) return null;
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return null;
  try {
    return { at: t, scopes: s as string[], row: toRow(a as Amounts) };
  } catch {
    return null;
  }
}

const PREFIX = Buffer.from('{"t":');
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/**
 * The time of a line as encodeRecord writes it (`{"t":<digits>,` ... `}`), read from the raw bytes without decoding
 * or parsing the line; null when the line does not have that shape (the caller then falls back to decodeRecord).
 */
export function leadingTime(line: Buffer): number | null {
  if (line.length < PREFIX.length + 3 || line[line.length - 1] !== CLOSE_BRACE) return null;
  if (line.compare(PREFIX, 0, PREFIX.length, 0, PREFIX.length) !== 0) return null;
  let value = 0;
  let index = PREFIX.length;
  for (; index < line.length && index < PREFIX.length + 16; index++) {
    const byte = line[index];
    if (byte === COMMA) break;
    if (byte < DIGIT_0 || byte > DIGIT_9) return null;
    value = value * 10 + (byte - DIGIT_0);
  }
  return index > PREFIX.length && line[index] === COMMA ? value : null;
}
