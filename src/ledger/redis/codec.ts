// Encodes ledger calls as the Lua scripts' JSON payloads and decodes their integer replies into standings.
import type { LimitCheck, LimitStanding, ReserveInput, ReserveOutcome, SettleInput } from '../ledger.ts';
import { columnOf, toRow, type AmountRow } from '../amounts.ts';
import { buildStanding, withHold } from '../standing.ts';

/**
 * A check as the scripts take it: [scope, metric column (-1 = concurrency), windowMs, limit], then for a calendar
 * window 1, since, until (ms), for a lifetime 2.
 */
type WireCheck = [string, number, number, number] | [string, number, number, number, number, number, number] | [string, number, number, number, number];

function wireCheck(check: LimitCheck): WireCheck {
  const column = check.metric === 'concurrency' ? -1 : columnOf(check.metric);
  if (column < -1 || (column === -1 && check.metric !== 'concurrency')) throw new TypeError(`ledger: unknown metric "${check.metric}"`);
  if (!Number.isFinite(check.limit)) throw new TypeError(`ledger: limit of ${check.id} must be a finite number`);
  // a concurrency cap counts open reservations and has no window (the engine gives it windowMs 0): none is sent
  if (column === -1) return [check.scope, column, 0, check.limit];
  if (check.lifetime) return [check.scope, column, 1, check.limit, 2];
  if (check.period) {
    const { since, until } = check.period;
    if (!Number.isSafeInteger(since) || !Number.isSafeInteger(until) || until <= since)
      throw new TypeError(`ledger: period of ${check.id} must be whole ms, since before until`);
    return [check.scope, column, 1, check.limit, 1, since, until];
  }
  if (!Number.isSafeInteger(check.windowMs) || check.windowMs <= 0) throw new TypeError(`ledger: windowMs of ${check.id} must be a positive integer`);
  return [check.scope, column, check.windowMs, check.limit];
}

function wireRow(row: AmountRow): number[] {
  return Array.from(row);
}

/** `deadline`: the server time (ms) after which the reserve must hold nothing (its sender stopped waiting); none: no bound. */
export function reservePayload(input: ReserveInput, deadline: number | null = null): { payload: string; row: AmountRow } {
  if (!(input.leaseMs > 0) || !Number.isFinite(input.leaseMs)) throw new TypeError('ledger: leaseMs must be positive');
  if (typeof input.id !== 'string' || input.id.length === 0) throw new TypeError('ledger: reservation id must be a non-empty string');
  const row = toRow(input.amounts);
  const payload = JSON.stringify({
    id: input.id,
    scopes: input.scopes,
    row: wireRow(row),
    checks: input.checks.map(wireCheck),
    leaseMs: Math.ceil(input.leaseMs),
    ...(deadline === null ? {} : { deadline: Math.floor(deadline) }),
  });
  return { payload, row };
}

/** `keep`: how long the settled id is remembered (ms). */
export function settlePayload(input: SettleInput, row: AmountRow, keep: number): string {
  const fallback = input.orRecord;
  if (!fallback) return JSON.stringify({ id: input.id, row: wireRow(row), keep });
  if (!Number.isFinite(fallback.at)) throw new TypeError('ledger: record time must be a finite number');
  return JSON.stringify({ id: input.id, row: wireRow(row), keep, orRecord: [fallback.scopes, Math.floor(fallback.at)] });
}

export function releasePayload(id: string, keep: number): string {
  return JSON.stringify({ id, keep });
}

export function standingPayload(checks: readonly LimitCheck[]): string {
  return JSON.stringify({ checks: checks.map(wireCheck) });
}

export interface RecordEntry {
  readonly scopes: readonly string[];
  readonly amounts: AmountRow | Parameters<typeof toRow>[0];
  readonly at: number;
}

/** One record batch: [at, row, scopes] per entry; validates every entry before anything is sent. */
export function recordPayload(entries: readonly RecordEntry[]): string {
  const wire = entries.map((entry) => {
    if (!Number.isFinite(entry.at)) throw new TypeError('ledger: record time must be a finite number');
    const row = entry.amounts instanceof Float64Array ? entry.amounts : toRow(entry.amounts);
    return [Math.floor(entry.at), wireRow(row), entry.scopes];
  });
  return JSON.stringify({ entries: wire });
}

/** Standings from the triples (used, reserved, resetMs) starting at `offset` of a script reply. */
export function decodeStandings(checks: readonly LimitCheck[], reply: readonly number[], offset = 0): LimitStanding[] {
  if (reply.length !== offset + checks.length * 3) throw new Error('redis ledger: unexpected script reply');
  return checks.map((check, index) => {
    const at = offset + index * 3;
    return buildStanding(check, { used: Number(reply[at]), reserved: Number(reply[at + 1]), resetMs: resetOrNull(Number(reply[at + 2])) });
  });
}

/** Offset of the standings in a reserve reply: admitted, blocked index, retry, server time. */
const RESERVE_HEAD = 4;

/** The server time (ms) a reserve reply carries. */
export function reserveReplyTime(reply: readonly number[]): number {
  return Number(reply[RESERVE_HEAD - 1]);
}

/** The reserve reply as an outcome; admitted standings include the new hold, as the embedded ledger reports them. */
export function decodeReserve(input: ReserveInput, row: AmountRow, reply: readonly number[]): ReserveOutcome {
  const standings = decodeStandings(input.checks, reply, RESERVE_HEAD);
  if (Number(reply[0]) === 1) {
    const held = standings.map((standing, index) => withHold(standing, input.checks[index], input.scopes, row));
    return { admitted: true, standings: held };
  }
  const blocked = standings[Number(reply[1]) - 1];
  if (!blocked) throw new Error('redis ledger: unexpected script reply');
  const retry = Number(reply[2]);
  return { admitted: false, blocked, retryAfterMs: retry < 0 ? null : retry, standings };
}

/** The scripts answer -1 for "nothing in the window". */
function resetOrNull(reset: number): number | null {
  return reset < 0 ? null : reset;
}
