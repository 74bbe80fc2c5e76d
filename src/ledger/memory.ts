// The embedded ledger: rolling-window usage per scope in memory, atomic reservations with leases, settlements journaled.
import type {
  ClaimResult,
  Ledger,
  LedgerHealth,
  LimitCheck,
  LimitStanding,
  RecordInput,
  ReserveInput,
  ReserveOutcome,
  SettleInput,
} from './ledger.ts';
import { LEDGER_RETENTION_MS } from './ledger.ts';
import { columnOf, isZeroRow, METRIC_COUNT, toRow, type AmountRow } from './amounts.ts';
import { bucketLevels, coarseningSteps, type CoarseningStep } from './bucket-levels.ts';
import { EventLog } from './event-log.ts';
import type { JournalSink, LedgerSnapshot } from './journal/journal.ts';
import { LeaseHeap } from './lease-heap.ts';
import { buildStanding, withHold } from './standing.ts';

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
   * Usage settled within the same grain (default 1 s, the Redis ledger's finest bucket) is held as one event per scope,
   * so memory grows with the seconds in the retention, not with the calls: 35 days at 100 calls/s would otherwise be
   * 300 million events. A window then counts such usage up to one grain longer than exact, never shorter. As usage
   * ages past the windows a grain serves, the sweep folds it into coarser buckets (15 s, 5 min, 1 h: the Redis ledger's
   * levels, bucket-levels.ts), so a scope holds a few thousand events however busy it is. 0: exact, nothing folded.
   */
  readonly grainMs?: number;
  /**
   * How long an ended reservation id is remembered (default 60 s): a settle retried within it is not counted twice, a
   * reserve of it holds nothing. Outcomes here are never unknown (every call runs in-process), so only a caller that
   * retries an operation that threw needs it, and it stays short: a tombstone per call costs memory.
   */
  readonly tombstoneMs?: number;
}

const DEFAULT_TOMBSTONE_MS = 60_000;

interface ScopeState {
  readonly log: EventLog;
  /** Held by open reservations, per metric column. */
  readonly reserved: Float64Array;
  /** Open reservations listing this scope. */
  open: number;
}

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
  private readonly scopes = new Map<string, ScopeState>();
  private readonly reservations = new Map<string, Reservation>();
  private readonly leases = new LeaseHeap<Reservation>();
  private readonly timer: NodeJS.Timeout | null;
  /** claimOnce keys → when their claim expires. */
  private readonly claims = new Map<string, number>();
  /** Ended reservation ids → until when they are remembered, negative for a release; in expiry order (one TTL). */
  private readonly tombstones = new Map<string, number>();
  private readonly tombstoneMs: number;
  private closed = false;

  constructor(options: MemoryLedgerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? LEDGER_RETENTION_MS;
    this.grainMs = options.grainMs ?? DEFAULT_GRAIN_MS;
    this.coarsening = this.grainMs > 0 ? coarseningSteps(bucketLevels({ bucketMs: this.grainMs, retentionMs: this.retentionMs })) : [];
    this.journal = options.journal ?? null;
    this.tombstoneMs = options.tombstoneMs ?? DEFAULT_TOMBSTONE_MS;
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
    this.sweepTombstones(now);
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
    }
    this.reservations.set(input.id, reservation);
    this.leases.push(reservation);
    return { admitted: true, standings: standings.map((standing, index) => withHold(standing, input.checks[index], scopes, row)) };
  }

  async settle(input: SettleInput): Promise<boolean> {
    this.assertOpen();
    const now = this.now();
    this.sweepLeases(now);
    this.sweepTombstones(now);
    if ((this.tombstones.get(input.id) ?? 0) > 0) return false; // settled already: a retry counts nothing
    const row = toRow(input.amounts);
    const reservation = this.reservations.get(input.id);
    if (reservation) {
      this.end(reservation);
      this.entomb(input.id, now, 'settled');
      this.append({ scopes: reservation.scopes, row, at: now, now, requestId: input.id });
      return true;
    }
    const fallback = input.orRecord;
    if (!fallback) return false;
    if (!Number.isFinite(fallback.at)) throw new TypeError('ledger: record time must be a finite number');
    this.entomb(input.id, now, 'settled');
    const at = Math.min(fallback.at, now);
    if (at > now - this.retentionMs) this.append({ scopes: uniqueScopes(fallback.scopes), row, at, now, requestId: input.id });
    return true;
  }

  async release(id: string): Promise<boolean> {
    this.assertOpen();
    const now = this.now();
    this.sweepLeases(now);
    this.sweepTombstones(now);
    const reservation = this.reservations.get(id);
    if (!this.tombstones.has(id)) this.entomb(id, now, 'released'); // released before its reserve ran: that holds nothing
    if (!reservation) return false;
    this.end(reservation);
    return true;
  }

  async record(input: RecordInput): Promise<void> {
    this.assertOpen();
    if (!Number.isFinite(input.at)) throw new TypeError('ledger: record time must be a finite number');
    const row = toRow(input.amounts);
    const now = this.now();
    if (input.at <= now - this.retentionMs) return;
    this.append({ scopes: uniqueScopes(input.scopes), row, at: input.at, now, requestId: input.requestId });
  }

  /** Resolves once the journal lines of every settlement so far have been written (or their write failed: health()). */
  async durable(): Promise<void> {
    await this.journal?.durable?.();
  }

  /** Synchronous record() for start-up replay of already-validated journal records (skips a promise per record). */
  loadRecord(record: { readonly at: number; readonly scopes: readonly string[]; readonly row: AmountRow }): void {
    this.assertOpen();
    const now = this.now();
    if (record.at <= now - this.retentionMs) return;
    this.append({ scopes: uniqueScopes(record.scopes), row: record.row, at: record.at, now });
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
    const logs: [string, EventLog][] = [];
    let events = 0;
    for (const [scope, state] of this.scopes) {
      if (state.log.size === 0) continue;
      const copy = state.log.clone();
      logs.push([scope, copy]);
      events += copy.size;
    }
    return { events, records: () => snapshotRecords(logs) };
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
    if (!state) return buildStanding(check, { used: 0, reserved: 0, resetMs: null });
    this.prune(state, now);
    const since = now - check.windowMs;
    const oldest = state.log.oldestAfter(column, since);
    return buildStanding(check, {
      used: state.log.sumAfter(column, since),
      reserved: state.reserved[column],
      resetMs: oldest === null ? null : oldest + check.windowMs - now,
    });
  }

  /** Exact wait until enough settled usage has left the window for the request to fit; null if waiting cannot help. */
  private retryAfter(check: LimitCheck, standing: LimitStanding, amount: number, now: number): number | null {
    const allowance = check.limit - standing.reserved - amount;
    if (allowance < 0) return null;
    const state = this.scopes.get(check.scope);
    const last = state?.log.lastToLeave(columnOf(check.metric), now - check.windowMs, allowance) ?? null;
    return last === null ? null : last + check.windowMs - now;
  }

  private append(event: { scopes: readonly string[]; row: AmountRow; at: number; now: number; requestId?: string }): void {
    const { scopes, row, at } = event;
    if (scopes.length === 0 || isZeroRow(row)) return;
    for (const scope of scopes) {
      const state = this.scopeState(scope);
      this.prune(state, event.now);
      state.log.append(at, row);
    }
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

  /** Remembers an ended id; the map stays in expiry order because every tombstone lives the same time. */
  private entomb(id: string, now: number, how: 'settled' | 'released'): void {
    const until = now + this.tombstoneMs;
    this.tombstones.delete(id);
    this.tombstones.set(id, how === 'settled' ? until : -until);
  }

  private sweepTombstones(now: number): void {
    for (const [id, until] of this.tombstones) {
      if (Math.abs(until) > now) return;
      this.tombstones.delete(id);
    }
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
    this.sweepTombstones(now);
    for (const [scope, state] of this.scopes) {
      this.prune(state, now);
      state.log.coarsen(now, this.coarsening);
      if (state.log.size === 0 && state.open === 0) this.scopes.delete(scope);
    }
    for (const [key, until] of this.claims) if (until <= now) this.claims.delete(key);
  }

  private scopeState(scope: string): ScopeState {
    let state = this.scopes.get(scope);
    if (!state) {
      state = { log: new EventLog({ grainMs: this.grainMs }), reserved: new Float64Array(METRIC_COUNT), open: 0 };
      this.scopes.set(scope, state);
    }
    return state;
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

/** The records of a snapshot: each scope's held events, one line's worth each. */
function* snapshotRecords(logs: readonly [string, EventLog][]): Generator<{ readonly at: number; readonly scopes: readonly string[]; readonly row: AmountRow }> {
  for (const [scope, log] of logs) {
    const scopes = [scope];
    for (const event of log.events()) yield { at: event.at, scopes, row: event.row };
  }
}
