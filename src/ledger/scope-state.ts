// What the embedded ledger holds per scope: windowed usage, open holds, lifetime totals, and a session scope's idle expiry.
import { METRIC_COUNT, type AmountRow } from './amounts.ts';
import { EventLog } from './event-log.ts';

/** Journal records on `life:<scope>` carry usage that left the retention: it counts in the scope's lifetime totals only. */
export const LIFE_PREFIX = 'life:';
const SESSION_SCOPE = /^session:(\d+):/;

/**
 * A session scope is `session:<idle ms>:<agent>:<session id>`: its usage counts until it has been idle (no reserve, no
 * charge) for its idle time, then it starts again from zero; it keeps lifetime totals only (no windowed log). 0 for
 * any other scope.
 */
export function sessionIdleMs(scope: string): number {
  if (!scope.startsWith('session:')) return 0;
  const match = SESSION_SCOPE.exec(scope);
  return match ? Number(match[1]) : 0;
}

export class ScopeState {
  readonly log: EventLog;
  /** Held by open reservations, per metric column. */
  readonly reserved = new Float64Array(METRIC_COUNT);
  /** Everything ever charged to the scope (a session: since it was last idle), per metric column. */
  readonly life = new Float64Array(METRIC_COUNT);
  /** Open reservations listing this scope. */
  open = 0;
  /** Last reserve or charge (sessions: idle expiry runs from it). */
  lastAt = Number.NEGATIVE_INFINITY;
  /** > 0 for a session scope. */
  readonly idleMs: number;

  constructor(scope: string, grainMs: number) {
    this.idleMs = sessionIdleMs(scope);
    this.log = new EventLog({ grainMs: this.idleMs > 0 ? 0 : grainMs });
  }

  get isSession(): boolean {
    return this.idleMs > 0;
  }

  /** A session idle for its idle time at `now`: its totals no longer count. */
  idle(now: number): boolean {
    return this.idleMs > 0 && this.lastAt + this.idleMs <= now;
  }

  /** Lifetime total of one column at `now` (a session idle past its time: 0). */
  lifeUsed(column: number, now: number): number {
    return this.idle(now) ? 0 : this.life[column];
  }

  /** Activity at `at` (a reserve): a session idle past its time starts again from zero. */
  touch(at: number): void {
    if (this.idle(at)) this.life.fill(0);
    if (at > this.lastAt) this.lastAt = at;
  }

  /** A charge at `at`: in the lifetime totals, and (not a session, within the retention) in the windowed log. */
  charge(at: number, row: AmountRow, keepAfter: number): void {
    if (this.isSession) this.touch(at);
    else {
      if (at > keepAfter) this.log.append(at, row);
      if (at > this.lastAt) this.lastAt = at;
    }
    for (let column = 0; column < METRIC_COUNT; column++) this.life[column] += row[column];
  }

  /** Usage that left the retention before (a `life:` record): lifetime totals only. */
  chargeLife(row: AmountRow): void {
    for (let column = 0; column < METRIC_COUNT; column++) this.life[column] += row[column];
  }

  /** No open hold and no usage in the retention (a session: idle); its lifetime totals are then kept apart (ScopeTable). */
  forgettable(now: number): boolean {
    if (this.open > 0 || this.log.size > 0) return false;
    return !this.isSession || this.idle(now);
  }

  /** A copy of what the journal needs to rebuild this scope (nothing shared), or null when there is nothing. */
  snapshot(scope: string, now: number): ScopeSnapshot | null {
    if (this.isSession) {
      if (this.idle(now) || this.life.every((value) => value === 0)) return null;
      return { scope, log: null, life: Float64Array.from(this.life), lastAt: this.lastAt, now, records: 1 };
    }
    if (this.log.size === 0 && this.life.every((value) => value === 0)) return null;
    const log = this.log.clone();
    const beyond = Float64Array.from(this.life);
    for (const event of log.events()) for (let column = 0; column < METRIC_COUNT; column++) beyond[column] -= event.row[column];
    return {
      scope,
      log,
      life: Float64Array.from(this.life),
      lastAt: this.lastAt,
      now,
      records: log.size + (beyond.some((value) => Math.round(value) > 0) ? 1 : 0),
    };
  }
}

export interface ScopeSnapshot {
  readonly scope: string;
  /** Null for a session scope. */
  readonly log: EventLog | null;
  readonly life: AmountRow;
  readonly lastAt: number;
  readonly now: number;
  /** At most this many records. */
  readonly records: number;
}

/**
 * The records that rebuild a scope on replay: its held events, then what its lifetime holds beyond them (on
 * `life:<scope>` at the snapshot's time); a session: its totals at its last activity.
 */
export function* scopeRecords(snapshot: ScopeSnapshot): Generator<{ readonly at: number; readonly scopes: readonly string[]; readonly row: AmountRow }> {
  const scopes = [snapshot.scope];
  if (!snapshot.log) {
    yield { at: snapshot.lastAt, scopes, row: snapshot.life };
    return;
  }
  const beyond = Float64Array.from(snapshot.life);
  for (const event of snapshot.log.events()) {
    for (let column = 0; column < METRIC_COUNT; column++) beyond[column] -= event.row[column];
    yield { at: event.at, scopes, row: event.row };
  }
  for (let column = 0; column < METRIC_COUNT; column++) beyond[column] = Math.max(0, Math.round(beyond[column]));
  if (beyond.some((value) => value !== 0)) yield { at: snapshot.now, scopes: [`${LIFE_PREFIX}${snapshot.scope}`], row: beyond };
}

/** The scopes a ledger holds; session scopes (chosen by agents) at most `maxSessions`, least recently used forgotten first. */
export class ScopeTable {
  readonly #scopes = new Map<string, ScopeState>();
  /** Session scopes, least recently used first. */
  readonly #sessions = new Map<string, ScopeState>();
  /** Lifetime totals of scopes forgotten (no usage in the retention, no hold): 48 bytes each instead of a whole state. */
  readonly #retired = new Map<string, AmountRow>();
  readonly #grainMs: number;
  readonly #maxSessions: number;

  constructor(options: { readonly grainMs: number; readonly maxSessions: number }) {
    this.#grainMs = options.grainMs;
    this.#maxSessions = options.maxSessions;
  }

  get size(): number {
    return this.#scopes.size;
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  get(scope: string): ScopeState | undefined {
    return this.#scopes.get(scope);
  }

  /** The scope's state, created when new; a new session past the bound forgets the least recently used one not in use. */
  obtain(scope: string): ScopeState {
    let state = this.#scopes.get(scope);
    if (!state) {
      state = new ScopeState(scope, this.#grainMs);
      this.#scopes.set(scope, state);
      const retired = this.#retired.get(scope);
      if (retired) {
        state.chargeLife(retired);
        this.#retired.delete(scope);
      }
      if (state.isSession) {
        if (this.#sessions.size >= this.#maxSessions) this.#evictOne();
        this.#sessions.set(scope, state);
      }
    } else if (state.isSession) {
      this.#sessions.delete(scope); // most recently used last
      this.#sessions.set(scope, state);
    }
    return state;
  }

  /**
   * Charges one scope (held once per list: the caller removes repeats): a `life:<scope>` to its scope's lifetime totals
   * only; another with its usage older than `keepAfter` dropped first (the retention).
   */
  charge(scope: string, at: number, row: AmountRow, keepAfter: number): void {
    if (scope.startsWith(LIFE_PREFIX)) {
      this.obtain(scope.slice(LIFE_PREFIX.length)).chargeLife(row);
      return;
    }
    const state = this.obtain(scope);
    state.log.dropThrough(keepAfter);
    state.charge(at, row, keepAfter);
  }

  /** Forgets a scope's state; a scope other than a session keeps its lifetime totals. */
  forget(scope: string, state: ScopeState): void {
    this.#scopes.delete(scope);
    if (state.isSession) this.#sessions.delete(scope);
    else if (state.life.some((value) => value !== 0)) this.#retired.set(scope, state.life);
  }

  /** Lifetime totals of a scope that holds no state now (null when none). */
  retiredLife(scope: string): AmountRow | null {
    return this.#retired.get(scope) ?? null;
  }

  /** Snapshots of the retired lifetime totals (a `life:` record each). */
  retiredSnapshots(now: number): ScopeSnapshot[] {
    return [...this.#retired].map(([scope, life]) => ({ scope, log: new EventLog(), life: Float64Array.from(life), lastAt: now, now, records: 1 }));
  }

  entries(): IterableIterator<[string, ScopeState]> {
    return this.#scopes.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, ScopeState]> {
    return this.#scopes.entries();
  }

  #evictOne(): void {
    for (const [scope, state] of this.#sessions) {
      if (state.open > 0) continue;
      this.forget(scope, state);
      return;
    }
  }
}
