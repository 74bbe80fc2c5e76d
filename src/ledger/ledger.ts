// The storage seam for budgets: reserve, settle, release, standing. Embedded (memory.ts) and Redis (redis.ts) implement it.

/** How long usage is kept (both ledgers): the longest window a policy may set, so no window is ever cut short. */
export const LEDGER_RETENTION_MS = 35 * 24 * 60 * 60 * 1000;

/** What a request consumes. Every amount is a non-negative integer. */
export type Metric = 'usd_micros' | 'requests' | 'input_tokens' | 'output_tokens' | 'total_tokens' | 'unknown_cost_requests';
export type Amounts = Partial<Record<Metric, number>>;

/**
 * One limit to check at admission. `scope` names whose usage counts: `agent:<id>`, `shared:<name>`,
 * or a model-scoped variant such as `agent:<id>|model:<pattern>`. The engine decides which scopes a request touches.
 */
export interface LimitCheck {
  /** Stable id of the limit (for headers, events and standings), e.g. `agent:a/usd/1h`. */
  readonly id: string;
  readonly scope: string;
  /** `concurrency` counts open reservations on the scope; every other metric is summed over the rolling window. */
  readonly metric: Metric | 'concurrency';
  readonly windowMs: number;
  readonly limit: number;
  /**
   * A calendar window instead of a rolling one: usage at or after `since` counts, and the window starts afresh at
   * `until` (ms since epoch), which is then the reset time. `windowMs` is ignored.
   */
  readonly period?: { readonly since: number; readonly until: number };
  /**
   * No window: all the usage the scope ever had counts (the ledgers keep lifetime totals per scope, past the retention,
   * across restarts and journal rewrites). On a session scope (`session:<idle ms>:...`) the totals since it was last
   * idle for its idle time.
   */
  readonly lifetime?: boolean;
}

export interface LimitStanding {
  readonly id: string;
  readonly scope: string;
  readonly metric: Metric | 'concurrency';
  readonly windowMs: number;
  readonly limit: number;
  /** Settled usage inside the window. */
  readonly used: number;
  /** Held by open reservations. */
  readonly reserved: number;
  /** max(0, limit - used - reserved). */
  readonly remaining: number;
  /** Milliseconds until the oldest usage in the window leaves it (null when the window holds nothing). */
  readonly resetMs: number | null;
}

export interface ReserveInput {
  /** Unique per request attempt; settle/release name it. */
  readonly id: string;
  /** Every scope the request's usage is added to. */
  readonly scopes: readonly string[];
  /** Estimated amounts held until settle/release. */
  readonly amounts: Amounts;
  /** Limits that can refuse the reservation (soft limits are left out and checked with standing()). */
  readonly checks: readonly LimitCheck[];
  /** A reservation not settled or released within this time is dropped (a crashed replica's holds expire). */
  readonly leaseMs: number;
}

/**
 * A check blocks when `used + reserved + amount > limit` (concurrency: `open + 1 > limit`). Standings come in check
 * order: on admission they already include the new hold (what the response headers show); on a block, the state
 * without it. The contract suite (test/contract/ledger-contract.ts) pins this down for every implementation.
 */
export type ReserveOutcome =
  | { readonly admitted: true; readonly standings: readonly LimitStanding[] }
  | {
      readonly admitted: false;
      /** The first check (in input order) that refused. */
      readonly blocked: LimitStanding;
      /**
       * Milliseconds until enough settled usage leaves the window for this request to fit, given what is reserved now.
       * Null when waiting alone cannot make it fit (the request alone exceeds the limit, or reservations hold the room).
       */
      readonly retryAfterMs: number | null;
      readonly standings: readonly LimitStanding[];
    };

export interface SettleInput {
  readonly id: string;
  /** Actual amounts; they replace the reservation's estimate. */
  readonly amounts: Amounts;
  /**
   * When the reservation is not open (its lease ran out, its reserve never ran or its outcome was never learnt, the
   * store lost it), record the amounts on these scopes at `at` instead, unless this id was already settled. With it,
   * settle counts a call once per id however often it is retried.
   */
  readonly orRecord?: { readonly scopes: readonly string[]; readonly at: number };
}

/** Usage with no reservation (a call of an agent without limits, a lease that ran out, a rebuild or reconciliation). */
export interface RecordInput {
  readonly scopes: readonly string[];
  readonly amounts: Amounts;
  readonly at: number;
  /** The call it charges: the embedded journal keeps it, so start-up reconciliation never charges the call twice. */
  readonly requestId?: string;
}

export interface LedgerHealth {
  readonly ok: boolean;
  readonly kind: 'memory' | 'redis';
  readonly detail?: string;
}

export interface ClaimResult {
  readonly claimed: boolean;
  readonly heldForMs: number;
}

export interface Ledger {
  /** Atomically checks every limit and, if all fit, holds the amounts on every scope. */
  reserve(input: ReserveInput): Promise<ReserveOutcome>;
  /**
   * Turns a reservation into settled usage; true when this call counted it. False (and nothing changed) when the id was
   * already settled, or when it is not open (released, expired, unknown) and no `orRecord` was given. A settled id is
   * remembered for a while (a tombstone), so a retried settle never counts twice and a late reserve of it holds nothing.
   */
  settle(input: SettleInput): Promise<boolean>;
  /**
   * Drops a reservation without usage. Returns false if it was not open (already settled, released, expired, or never
   * reserved). Either way the id is then ended: a reserve of it that arrives later (one whose outcome was unknown, run
   * late by a stalled store) holds nothing. `scopes`, the ones it was (or will be) reserved on, tell a grouped Redis
   * ledger where an id this process did not reserve lives; without them it is looked for where this process reserved it.
   */
  release(id: string, scopes?: readonly string[]): Promise<boolean>;
  /** Records usage that had no reservation (e.g. rebuilt from history). */
  record(input: RecordInput): Promise<void>;
  /**
   * Resolves once what was settled and recorded so far survives a kill -9 of this process (the embedded ledger: its
   * journal lines written). Absent: durable once the call returned (Redis: its own persistence settings decide).
   */
  durable?(): Promise<void>;
  /** Current standing of each check, without reserving anything. */
  standing(checks: readonly LimitCheck[]): Promise<LimitStanding[]>;
  /**
   * Claims a one-off notice (a budget alert for one threshold of one limit) for `ttlMs`: `claimed` for the first caller,
   * not for anyone else (any replica sharing this ledger) until the claim expires; `heldForMs` is how long it still holds.
   */
  claimOnce(input: { readonly key: string; readonly ttlMs: number }): Promise<ClaimResult>;
  health(): Promise<LedgerHealth>;
  close(): Promise<void>;
}

/** How long an ended reservation id is remembered (tombstone): retries and late reserves within it are no-ops. */
export const TOMBSTONE_MS = 10 * 60_000;

/**
 * The operation was sent and no reply came (a hung store, a connection lost mid-call): it may have run, or may still
 * run. Every operation is idempotent by id, so the caller resolves it by id (settle with `orRecord`, or release) when
 * the ledger answers again; a reserve running after its deadline holds nothing.
 */
export class LedgerOutcomeUnknownError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerOutcomeUnknownError';
  }
}

/**
 * The operation was not sent: the ledger cannot be reached right now (the shared ledger's connection is down). Nothing
 * changed, so the same operation may be tried again later; any other failure may have happened after the ledger ran it.
 */
export class LedgerUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerUnreachableError';
  }
}
