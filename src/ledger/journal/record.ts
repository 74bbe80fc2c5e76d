// One journal line: a settlement (time, scopes, amounts, request id) or a watermark, as compact JSON; strict decoding for replay.
import type { Amounts } from '../ledger.ts';
import { METRIC_COUNT, METRICS, toRow, type AmountRow } from '../amounts.ts';

/** `{"t":<ms since epoch>,"s":[<scopes>],"a":{<non-zero amounts>},"r":"<request id>"}` (`r` only for a call's charge) */
export interface JournalRecord {
  readonly t: number;
  readonly s: readonly string[];
  readonly a: Amounts;
  readonly r?: string;
}

export interface DecodedRecord {
  readonly at: number;
  readonly scopes: readonly string[];
  readonly row: AmountRow;
  /** The request the charge is for (absent on folded records and on lines of older versions). */
  readonly requestId?: string;
}

/**
 * `{"t":<W>,"m":[<request ids>]}`: every call whose history entry ended at or before W (ms since epoch) and was charged
 * is in the lines above, and of those that ended after W, the ones listed here are in it (folded, without their id);
 * the others carry their id on their own line below. Start-up reconciliation (reconcile.ts) reads it.
 */
export interface DecodedMark {
  readonly watermark: number;
  readonly requestIds: readonly string[];
}

/** The line to append, newline included. */
export function encodeRecord(at: number, scopes: readonly string[], row: AmountRow, requestId?: string): string {
  // Built by hand (same output as JSON.stringify of a JournalRecord): this runs once per settlement.
  let amounts = '';
  for (let column = 0; column < METRIC_COUNT; column++) {
    if (row[column] !== 0) amounts += `${amounts ? ',' : ''}"${METRICS[column]}":${row[column]}`;
  }
  const id = requestId === undefined ? '' : `,"r":${JSON.stringify(requestId)}`;
  return `{"t":${at},"s":${JSON.stringify(scopes)},"a":{${amounts}}${id}}\n`;
}

/** A watermark line, newline included. */
export function encodeMark(watermark: number, requestIds: readonly string[]): string {
  return `{"t":${watermark},"m":${JSON.stringify(requestIds)}}\n`;
}

/** Parses a watermark line; null for anything else (a record, a torn write). */
export function decodeMark(line: string): DecodedMark | null {
  if (!line.includes('"m":')) return null;
  const value = jsonObject(line);
  if (!value) return null;
  const { t, m } = value;
  if (typeof t !== 'number' || !Number.isFinite(t) || !Array.isArray(m) || !m.every((id) => typeof id === 'string')) return null;
  return { watermark: t, requestIds: m as string[] };
}

/** Parses and validates one line; null for anything malformed (a torn write, a foreign line). */
export function decodeRecord(line: string): DecodedRecord | null {
  const value = jsonObject(line);
  if (!value) return null;
  const { t, s, a, r } = value;
  if (typeof t !== 'number' || !Number.isFinite(t)) return null;
  if (!Array.isArray(s) || s.length === 0 || !s.every((scope) => typeof scope === 'string' && scope.length > 0)) return null;
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return null;
  try {
    const record = { at: t, scopes: s as string[], row: toRow(a as Amounts) };
    return typeof r === 'string' && r.length > 0 ? { ...record, requestId: r } : record;
  } catch {
    return null;
  }
}

function jsonObject(line: string): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
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
