// The embedded ledger: rolling-window usage per scope in memory, atomic reservations with leases, settlements journaled.
import type { ClaimResult, Ledger, LedgerHealth, LimitCheck, LimitStanding, RecordInput, ReserveInput, ReserveOutcome, SettleInput } from './ledger.ts';
import { LEDGER_RETENTION_MS } from './ledger.ts';
import { columnOf, isZeroRow, METRIC_COUNT, toRow, type AmountRow } from './amounts.ts';
import { bucketLevels, coarseningSteps, type CoarseningStep } from './bucket-levels.ts';
import type { JournalSink, LedgerSnapshot } from './journal/journal.ts';
import { runColumns, type StagedRun } from './journal/replay-stage.ts';
import { LeaseHeap } from './lease-heap.ts';
import { LIFE_PREFIX, ScopeTable, scopeRecords, sessionIdleMs, type ScopeSnapshot, type ScopeState } from './scope-state.ts';
import { buildStanding, withHold } from './standing.ts';
import { Tombstones } from './tombstones.ts';

const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
const DEFAULT_GRAIN_MS = 1_000;

export interface MemoryLedgerOptions {
  readonly now?: () => number;
  /** Where settlements and records are appended; null/absent keeps the ledger in memory only. */
  readonly journal?: JournalSink | null;
  /** Usage older than this is dropped (default 35 days); it must exceed the longest window. */
  readonly retentionMs?: number;
  /** Background sweep of expired leases and old usage while idle; 0 disables it (operations sweep lazily anyway). */
  readonly sweepIntervalMs?: number;
  /**
   * Usage settled within the same grain (default 1 s, the Redis ledger's finest bucket) is held as one event per scope
   * (memory grows with the seconds in the retention, not the calls), counted up to one grain longer than exact; aged
   * usage is folded into coarser buckets (15 s, 5 min, 1 h: bucket-levels.ts) by the sweep. 0: exact, nothing folded.
   */
  readonly grainMs?: number;
  /**
   * How long an ended reservation id is remembered (default 60 s): a settle retried within it is not counted twice, a
   * reserve of it holds nothing. Short: outcomes here are never unknown, and a tombstone per call costs memory.
   */
  readonly tombstoneMs?: number;
  /** Session scopes held at most (default 100,000; ids are agents' choice): past it the least recently used is forgotten. */
  readonly maxSessions?: number;
}

const DEFAULT_TOMBSTONE_MS = 60_000;
const DEFAULT_MAX_SESSIONS = 100_000;

interface Reservation {
  readonly id: string;
  readonly scopes: readonly string[];
  readonly row: AmountRow;
  readonly expiresAt: number;
  ended: boolean;
}

/**
 * Single-threaded atomicity: every public method does all its checks and mutations synchronously, with no await in
 * between, so two reservations can never interleave. Blocks when `used + reserved + amount > limit` (a zero amount is
 * admitted at exactly the limit). Re-using the id of an open reservation throws, and so does reserving an id ended
 * within `tombstoneMs` (released or settled: a tombstone), which holds nothing.
 */
export class MemoryLedger implements Ledger {
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly grainMs: number;
  /** When the sweep folds aged usage into coarser buckets; none when grainMs is 0. */
  private readonly coarsening: readonly CoarseningStep[];
  private journal: JournalSink | null;
  private readonly scopes: ScopeTable;
  private readonly reservations = new Map<string, Reservation>();
  private readonly leases = new LeaseHeap<Reservation>();
  private readonly timer: NodeJS.Timeout | null;
  /** claimOnce keys → when their claim expires. */
  private readonly claims = new Map<string, number>();
  private readonly tombstones: Tombstones;
  private closed = false;
  /** loadScope's record, overwritten for each. */
  private readonly loadRow = new Float64Array(METRIC_COUNT);

  constructor(options: MemoryLedgerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? LEDGER_RETENTION_MS;
    this.grainMs = options.grainMs ?? DEFAULT_GRAIN_MS;
    this.coarsening = this.grainMs > 0 ? coarseningSteps(bucketLevels({ bucketMs: this.grainMs, retentionMs: this.retentionMs })) : [];
    this.journal = options.journal ?? null;
    this.tombstones = new Tombstones(options.tombstoneMs ?? DEFAULT_TOMBSTONE_MS);
    this.scopes = new ScopeTable({ grainMs: this.grainMs, maxSessions: options.maxSessions ?? DEFAULT_MAX_SESSIONS });
    const interval = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    this.timer = interval > 0 ? setInterval(() => this.sweep(), interval) : null;
    this.timer?.unref();
  }

  /** Starts journaling from now on (used after a replay, so replayed records are not written twice). */
  attachJournal(journal: JournalSink | null): void {
    this.journal = journal;
  }

  /** Open reservations (for tests and the admin view). */
  get openReservations(): number {
    return this.reservations.size;
  }

  /** Scopes held (for tests and memory diagnostics): one with no usage in the retention and no open hold is forgotten by the sweep. */
  get scopesHeld(): number {
    return this.scopes.size;
  }

  /** Session scopes held (for tests and memory diagnostics): at most `maxSessions`. */
  get sessionsHeld(): number {
    return this.scopes.sessions;
  }

  /** Ended ids remembered (for tests and memory diagnostics): each is forgotten `tombstoneMs` after it ended. */
  get tombstonesHeld(): number {
    return this.tombstones.size;
  }

  /** Claims held (for tests and memory diagnostics): an expired one is forgotten by the sweep. */
  get claimsHeld(): number {
    return this.claims.size;
  }

  /** Usage events held for a scope, same-grain settlements counting once (for tests and memory diagnostics). */
  eventsHeld(scope: string): number {
    return this.scopes.get(scope)?.log.size ?? 0;
  }

  async reserve(input: ReserveInput): Promise<ReserveOutcome> {
    this.assertOpen();
    const now = this.now();
    this.sweepLeases(now);
    if (this.reservations.has(input.id)) throw new Error(`ledger: reservation ${input.id} is already open`);
    this.tombstones.sweep(now);
    if (this.tombstones.has(input.id)) throw new Error(`ledger: reservation ${input.id} already ended (released or settled); nothing held`);
    if (!(input.leaseMs > 0)) throw new TypeError('ledger: leaseMs must be positive');
    const row = toRow(input.amounts);
    const standings = input.checks.map((check) => this.standingOf(check, now));

    for (let index = 0; index < input.checks.length; index++) {
      const check = input.checks[index];
      const standing = standings[index];
      if (check.metric === 'concurrency') {
        if (standing.used + 1 > check.limit) return { admitted: false, blocked: standing, retryAfterMs: null, standings };
        continue;
      }
      const amount = row[columnOf(check.metric)];
      if (standing.used + standing.reserved + amount > check.limit) {
        return { admitted: false, blocked: standing, retryAfterMs: this.retryAfter(check, standing, amount, now), standings };
      }
    }

    const scopes = uniqueScopes(input.scopes).slice(); // our own copy: settle must use the scopes reserved
    const reservation: Reservation = { id: input.id, scopes, row, expiresAt: now + input.leaseMs, ended: false };
    for (const scope of scopes) {
      const state = this.scopeState(scope);
      state.open += 1;
      for (let column = 0; column < METRIC_COUNT; column++) state.reserved[column] += row[column];
      if (state.isSession) state.touch(now);
    }
    this.reservations.set(input.id, reservation);
    this.leases.push(reservation);
    return { admitted: true, standings: standings.map((standing, index) => withHold(standing, input.checks[index], scopes, row)) };
  }

  async settle(input: SettleInput): Promise<boolean> {
    this.assertOpen();
    const now = this.now();
    this.sweepLeases(now);
    this.tombstones.sweep(now);
    if (this.tombstones.settled(input.id)) return false; // settled already: a retry counts nothing
    const row = toRow(input.amounts);
    const reservation = this.reservations.get(input.id);
    if (reservation) {
      this.end(reservation);
      this.tombstones.add(input.id, now, 'settled');
      this.append({ scopes: reservation.scopes, row, at: now, now, requestId: input.id });
      return true;
    }
    const fallback = input.orRecord;
    if (!fallback) return false;
    if (!Number.isFinite(fallback.at)) throw new TypeError('ledger: record time must be a finite number');
    this.tombstones.add(input.id, now, 'settled');
    const at = Math.min(fallback.at, now);
    this.append({ scopes: uniqueScopes(fallback.scopes), row, at, now, requestId: input.id });
    return true;
  }

  async release(id: string): Promise<boolean> {
    this.assertOpen();
    const now = this.now();
    this.sweepLeases(now);
    this.tombstones.sweep(now);
    const reservation = this.reservations.get(id);
    if (!this.tombstones.has(id)) this.tombstones.add(id, now, 'released'); // released before its reserve ran: that holds nothing
    if (!reservation) return false;
    this.end(reservation);
    return true;
  }

  async record(input: RecordInput): Promise<void> {
    this.assertOpen();
    if (!Number.isFinite(input.at)) throw new TypeError('ledger: record time must be a finite number');
    const row = toRow(input.amounts);
    const now = this.now();
    // older than the retention: it still counts in lifetime totals
    this.append({ scopes: uniqueScopes(input.scopes), row, at: input.at, now, requestId: input.requestId });
  }

  /** Resolves once the journal lines of every settlement so far have been written (or their write failed: health()). */
  async durable(): Promise<void> {
    await this.journal?.durable?.();
  }

  /**
   * Synchronous record() for start-up replay of already-validated journal records (skips a promise per record). One
   * older than the retention counts in lifetime totals only, and so does one on `life:<scope>`.
   */
  loadRecord(record: { readonly at: number; readonly scopes: readonly string[]; readonly row: AmountRow }, now = this.now()): void {
    this.assertOpen();
    this.append({ scopes: uniqueScopes(record.scopes), row: record.row, at: record.at, now });
  }

  /**
   * One scope's records within the retention, in file order (start-up replay, staged by scope: replay-stage.ts); the
   * caller gives each scope of a record once. The same as loadRecord for that scope, record after record, with the
   * scope looked up, its expired usage dropped and its log sized (if it must grow) once per run, not once per record.
   */
  loadScope(scope: string, run: StagedRun, now: number): void {
    this.assertOpen();
    const keepAfter = now - this.retentionMs;
    const row = this.loadRow;
    const life = scope.startsWith(LIFE_PREFIX);
    let state: ScopeState | undefined;
    for (let i = 0; i < run.count; i++) {
      const record = run.records[i];
      const offset = record * METRIC_COUNT;
      for (let column = 0; column < METRIC_COUNT; column++) row[column] = run.rows[offset + column];
      if (isZeroRow(row)) continue;
      if (life) {
        this.scopes.charge(scope, run.at[record], row, keepAfter);
        continue;
      }
      if (state === undefined) {
        // as ScopeTable.charge: a state's log drops what expired before it takes more (what it takes is never expired)
        state = this.scopes.obtain(scope);
        state.log.dropThrough(keepAfter);
        if (!state.log.hasRoom(run.count - i)) state.log.reserve(run.count - i, run.share, runColumns(run, i), run.arena);
      }
      state.charge(run.at[record], row, keepAfter);
    }
  }

  /** A journal record older than the retention (start-up replay): counted in its scopes' lifetime totals only. */
  loadLifetime(record: { readonly scopes: readonly string[]; readonly row: AmountRow }): void {
    for (const scope of uniqueScopes(record.scopes)) {
      if (sessionIdleMs(scope) === 0) this.scopeState(scope.startsWith(LIFE_PREFIX) ? scope.slice(LIFE_PREFIX.length) : scope).chargeLife(record.row);
    }
  }

  async standing(checks: readonly LimitCheck[]): Promise<LimitStanding[]> {
    this.assertOpen();
    const now = this.now();
    this.sweepLeases(now);
    return checks.map((check) => this.standingOf(check, now));
  }

  async claimOnce(input: { readonly key: string; readonly ttlMs: number }): Promise<ClaimResult> {
    this.assertOpen();
    const now = this.now();
    const until = this.claims.get(input.key);
    if (until !== undefined && until > now) return { claimed: false, heldForMs: until - now };
    const ttlMs = Math.max(1, Math.ceil(input.ttlMs));
    this.claims.set(input.key, now + ttlMs);
    return { claimed: true, heldForMs: ttlMs };
  }

  async health(): Promise<LedgerHealth> {
    const error = this.journal?.lastError ?? null;
    if (this.closed) return { ok: false, kind: 'memory', detail: 'closed' };
    if (error) return { ok: false, kind: 'memory', detail: `journal write failing: ${error.message}` };
    return { ok: true, kind: 'memory' };
  }

  /**
   * Everything settled so far, as it is held (swept first, so folded): one record per scope and event, copied now, so
   * the journal can write it out while the ledger keeps taking settlements.
   */
  snapshot(): LedgerSnapshot {
    this.sweep();
    const now = this.now();
    const copies: ScopeSnapshot[] = [];
    let events = 0;
    for (const [scope, state] of this.scopes) {
      const copy = state.snapshot(scope, now);
      if (!copy) continue;
      copies.push(copy);
      events += copy.records;
    }
    const retired = this.scopes.retiredSnapshots(now);
    copies.push(...retired);
    events += retired.length;
    return { events, records: () => snapshotRecords(copies) };
  }

  /** Stops the sweep timer and flushes and closes the journal. Open reservations are dropped with the process. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.journal?.close();
  }

  private standingOf(check: LimitCheck, now: number): LimitStanding {
    const state = this.scopes.get(check.scope);
    if (check.metric === 'concurrency') return buildStanding(check, { used: state?.open ?? 0, reserved: 0, resetMs: null });
    const column = columnOf(check.metric);
    if (column < 0) throw new TypeError(`ledger: unknown metric "${check.metric}"`);
    const period = check.period;
    const periodReset = period ? Math.max(0, period.until - now) : null;
    if (!state)
      return buildStanding(check, { used: check.lifetime ? (this.scopes.retiredLife(check.scope)?.[column] ?? 0) : 0, reserved: 0, resetMs: periodReset });
    if (check.lifetime || state.isSession) return buildStanding(check, { used: state.lifeUsed(column, now), reserved: state.reserved[column], resetMs: null });
    this.prune(state, now);
    // a calendar window counts usage at or after its start (the log counts what is after `since`)
    const since = period ? period.since - 1 : now - check.windowMs;
    const oldest = period ? null : state.log.oldestAfter(column, since);
    return buildStanding(check, {
      used: state.log.sumAfter(column, since),
      reserved: state.reserved[column],
      resetMs: period ? periodReset : oldest === null ? null : oldest + check.windowMs - now,
    });
  }

  /** Exact wait until enough settled usage has left the window for the request to fit; null if waiting cannot help. */
  private retryAfter(check: LimitCheck, standing: LimitStanding, amount: number, now: number): number | null {
    const allowance = check.limit - standing.reserved - amount;
    if (allowance < 0 || check.lifetime) return null;
    if (check.period) return Math.max(1, check.period.until - now); // the window starts afresh then
    const state = this.scopes.get(check.scope);
    const last = state?.log.lastToLeave(columnOf(check.metric), now - check.windowMs, allowance) ?? null;
    return last === null ? null : last + check.windowMs - now;
  }

  private append(event: { scopes: readonly string[]; row: AmountRow; at: number; now: number; requestId?: string }): void {
    const { scopes, row, at } = event;
    if (scopes.length === 0 || isZeroRow(row)) return;
    const keepAfter = event.now - this.retentionMs;
    for (const scope of scopes) this.scopes.charge(scope, at, row, keepAfter);
    this.journal?.append({ at, scopes, row, requestId: event.requestId });
  }

  private end(reservation: Reservation): void {
    reservation.ended = true;
    this.reservations.delete(reservation.id);
    for (const scope of reservation.scopes) {
      const state = this.scopes.get(scope);
      if (!state) continue;
      state.open -= 1;
      for (let column = 0; column < METRIC_COUNT; column++) state.reserved[column] -= reservation.row[column];
    }
    if (this.leases.size > 2 * this.reservations.size + 1024) this.leases.rebuild(this.reservations.values());
  }

  private sweepLeases(now: number): void {
    for (let lease = this.leases.popExpired(now); lease; lease = this.leases.popExpired(now)) {
      if (!lease.ended) this.end(lease);
    }
  }

  private prune(state: ScopeState, now: number): void {
    state.log.dropThrough(now - this.retentionMs);
  }

  /** Timer work (and once after a replay): expire leases, drop old usage, fold aged usage, forget empty scopes. */
  sweep(): void {
    const now = this.now();
    this.sweepLeases(now);
    this.tombstones.sweep(now);
    for (const [scope, state] of this.scopes) {
      this.prune(state, now);
      state.log.coarsen(now, this.coarsening);
      if (state.forgettable(now)) this.scopes.forget(scope, state);
    }
    for (const [key, until] of this.claims) if (until <= now) this.claims.delete(key);
  }

  private scopeState(scope: string): ScopeState {
    return this.scopes.obtain(scope);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('ledger is closed');
  }
}

/** Scopes without repeats (a scope listed twice must count once); the common short lists skip the Set. */
function uniqueScopes(scopes: readonly string[]): readonly string[] {
  if (scopes.length < 2) return scopes;
  if (scopes.length === 2) return scopes[0] === scopes[1] ? [scopes[0]] : scopes;
  return [...new Set(scopes)];
}

/** The records of a snapshot: each scope's held events, one line's worth each, and its lifetime beyond them. */
function* snapshotRecords(copies: readonly ScopeSnapshot[]): Generator<{ readonly at: number; readonly scopes: readonly string[]; readonly row: AmountRow }> {
  for (const copy of copies) yield* scopeRecords(copy);
}
