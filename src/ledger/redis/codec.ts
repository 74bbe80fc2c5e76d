// Encodes ledger calls as the Redis functions' arguments (text and packed doubles) and decodes their replies into standings.
import type { LimitCheck, LimitStanding, ReserveInput, ReserveOutcome, SettleInput } from '../ledger.ts';
import { columnOf, toRow, type AmountRow } from '../amounts.ts';
import { buildStanding, withHold } from '../standing.ts';

/** A script's arguments after the layout ones (ids and scopes as text, numbers packed). */
export type ScriptArgs = readonly (string | Buffer)[];

/** Doubles, little-endian, as the scripts unpack them with struct (exact for integers up to 2^53). */
class Doubles {
  private readonly values: number[] = [];

  push(...values: number[]): this {
    this.values.push(...values);
    return this;
  }

  pack(): Buffer {
    const packed = Buffer.allocUnsafe(this.values.length * 8);
    for (let index = 0; index < this.values.length; index++) packed.writeDoubleLE(this.values[index], index * 8);
    return packed;
  }
}

/** Scope names sent one per line, each once: the index of a scope in the list (1-based) is how checks name it. */
class ScopeList {
  readonly names: string[] = [];
  private readonly indexes = new Map<string, number>();

  indexOf(scope: string): number {
    let index = this.indexes.get(scope);
    if (index === undefined) {
      if (typeof scope !== 'string' || scope.length === 0 || scope.includes('\n'))
        throw new TypeError('ledger: a scope must be a non-empty string without line breaks');
      this.names.push(scope);
      index = this.names.length;
      this.indexes.set(scope, index);
    }
    return index;
  }

  text(): string {
    return this.names.join('\n');
  }
}

/**
 * Appends a check as the scripts take it, 7 numbers: scope index, metric column (-1 = concurrency), windowMs, limit,
 * kind (0 rolling, 1 calendar period, 2 lifetime), since, until (ms; a period's only).
 */
function pushCheck(out: Doubles, scopes: ScopeList, check: LimitCheck): void {
  const column = check.metric === 'concurrency' ? -1 : columnOf(check.metric);
  if (column < -1 || (column === -1 && check.metric !== 'concurrency')) throw new TypeError(`ledger: unknown metric "${check.metric}"`);
  if (!Number.isFinite(check.limit)) throw new TypeError(`ledger: limit of ${check.id} must be a finite number`);
  const scope = scopes.indexOf(check.scope);
  // a concurrency cap counts open reservations and has no window (the engine gives it windowMs 0): none is sent
  if (column === -1) return void out.push(scope, column, 0, check.limit, 0, 0, 0);
  if (check.lifetime) return void out.push(scope, column, 1, check.limit, 2, 0, 0);
  if (check.period) {
    const { since, until } = check.period;
    if (!Number.isSafeInteger(since) || !Number.isSafeInteger(until) || until <= since)
      throw new TypeError(`ledger: period of ${check.id} must be whole ms, since before until`);
    return void out.push(scope, column, 1, check.limit, 1, since, until);
  }
  if (!Number.isSafeInteger(check.windowMs) || check.windowMs <= 0) throw new TypeError(`ledger: windowMs of ${check.id} must be a positive integer`);
  out.push(scope, column, check.windowMs, check.limit, 0, 0, 0);
}

function checkId(id: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('ledger: reservation id must be a non-empty string');
  return id;
}

/**
 * Reserve arguments: id; numbers leaseMs, deadline (-1 = none), how many of the scopes it holds, the row; the scopes it
 * holds, then any other scope a check names; the checks, 7 numbers each (apart: a policy's checks repeat from call to
 * call, and the script keeps them decoded by their bytes). `deadline`: the server time (ms) after which the reserve
 * must hold nothing (its sender stopped waiting); null: no bound.
 */
export function reservePayload(input: ReserveInput, deadline: number | null = null): { payload: ScriptArgs; row: AmountRow } {
  if (!(input.leaseMs > 0) || !Number.isFinite(input.leaseMs)) throw new TypeError('ledger: leaseMs must be positive');
  const id = checkId(input.id);
  const row = toRow(input.amounts);
  const scopes = new ScopeList();
  for (const scope of input.scopes) scopes.indexOf(scope);
  const numbers = new Doubles().push(Math.ceil(input.leaseMs), deadline === null ? -1 : Math.floor(deadline), scopes.names.length, ...row);
  const checks = new Doubles();
  for (const check of input.checks) pushCheck(checks, scopes, check);
  return { payload: [id, numbers.pack(), scopes.text(), checks.pack()], row };
}

/** Settle arguments: id; numbers keep (how long the settled id is remembered, ms), the row, orRecord's time (-1 = no orRecord); orRecord's scopes. */
export function settlePayload(input: SettleInput, row: AmountRow, keep: number): ScriptArgs {
  const fallback = input.orRecord;
  if (fallback && !Number.isFinite(fallback.at)) throw new TypeError('ledger: record time must be a finite number');
  const scopes = new ScopeList();
  for (const scope of fallback?.scopes ?? []) scopes.indexOf(scope);
  const numbers = new Doubles().push(keep, ...row, fallback ? Math.max(0, Math.floor(fallback.at)) : -1);
  return [checkId(input.id), numbers.pack(), scopes.text()];
}

export function releasePayload(id: string, keep: number): ScriptArgs {
  return [checkId(id), new Doubles().push(keep).pack()];
}

/** Standing arguments: numbers, 7 per check; the scopes the checks name. */
export function standingPayload(checks: readonly LimitCheck[]): ScriptArgs {
  const scopes = new ScopeList();
  const numbers = new Doubles();
  for (const check of checks) pushCheck(numbers, scopes, check);
  return [numbers.pack(), scopes.text()];
}

export interface RecordEntry {
  readonly scopes: readonly string[];
  readonly amounts: AmountRow | Parameters<typeof toRow>[0];
  readonly at: number;
}

/** One record batch as JSON (not on the request path): [at, row, scopes] per entry; validates every entry first. */
export function recordPayload(entries: readonly RecordEntry[]): ScriptArgs {
  const wire = entries.map((entry) => {
    if (!Number.isFinite(entry.at)) throw new TypeError('ledger: record time must be a finite number');
    const row = entry.amounts instanceof Float64Array ? entry.amounts : toRow(entry.amounts);
    return [Math.floor(entry.at), Array.from(row), entry.scopes];
  });
  return [JSON.stringify({ entries: wire })];
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
