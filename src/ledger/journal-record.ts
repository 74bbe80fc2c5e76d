// One journal line: a settlement (time, scopes, amounts) as compact JSON, and its strict decoding for replay.
import type { Amounts } from './ledger.ts';
import { fromRow, toRow, type AmountRow } from './amounts.ts';

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
  const record: JournalRecord = { t: at, s: scopes, a: fromRow(row) };
  return JSON.stringify(record) + '\n';
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

const LEADING_TIME = /^\{"t":(\d{1,16}),/;

/** The time of a line as this module writes it, read without a full parse; null if the line does not start that way. */
export function leadingTime(line: string): number | null {
  const match = LEADING_TIME.exec(line);
  return match ? Number(match[1]) : null;
}
