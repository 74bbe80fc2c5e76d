// Settlements (and releases) the shared ledger could not be reached for, or never answered, kept and applied once it is back: a Redis outage or stall loses no charge.
import { LedgerOutcomeUnknownError, LedgerUnreachableError, type Amounts, type Ledger } from '../ledger/ledger.ts';

/** One call's usage waiting for the ledger, or (`release`) a hold to drop that would otherwise last its whole lease. */
export type PendingSettlement = UsageToSettle | { readonly kind: 'release'; readonly reservationId: string };

export interface UsageToSettle {
  readonly kind: 'settle';
  /** The call's reservation id (also when nothing was held): the usage is counted once under it, whatever is retried. */
  readonly reservationId: string;
  readonly scopes: readonly string[];
  readonly amounts: Amounts;
  /** When the call ended: recorded at this time if its reservation is gone by the time the ledger answers. */
  readonly at: number;
}

export interface SettleBacklogOptions {
  readonly ledger: Ledger;
  /** Operational messages: what was queued, applied, or given up. */
  readonly report: (message: string) => void;
  /** How often a non-empty backlog tries the ledger again (default 1 s). */
  readonly retryMs?: number;
  /** Most settlements kept; past it the oldest is dropped and reported (default 100,000). */
  readonly maxEntries?: number;
}

/**
 * Kept: failures where nothing reached the ledger (LedgerUnreachableError) and failures whose outcome is unknown (a
 * timeout, a connection lost mid-call: LedgerOutcomeUnknownError). Both are retried until the ledger answers: every
 * operation is idempotent by reservation id (a settled id is remembered, so a settle that did run counts nothing the
 * second time, and a release of an id whose reserve never ran, or runs late, leaves nothing held).
 */
export class SettleBacklog {
  readonly #options: SettleBacklogOptions;
  #pending: PendingSettlement[] = [];
  #timer: NodeJS.Timeout | null = null;
  #draining: Promise<void> | null = null;
  #appliedSinceQueued = 0;
  #closed = false;

  constructor(options: SettleBacklogOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#pending.length;
  }

  /** Whether an operation that failed this way is kept for later (nothing ran, or it is unknown whether it ran). */
  static keeps(error: unknown): boolean {
    return error instanceof LedgerUnreachableError || error instanceof LedgerOutcomeUnknownError;
  }

  /** Keeps a settlement that could not reach the ledger; retried every `retryMs` until it lands. */
  add(settlement: PendingSettlement): void {
    if (this.#pending.length === 0) this.#options.report('shared ledger unreachable: keeping settlements to apply when it is back');
    this.#pending.push(settlement);
    const max = this.#options.maxEntries ?? 100_000;
    if (this.#pending.length > max) {
      const dropped = this.#pending.shift()!;
      this.#options.report(
        `settlement backlog full (${max}): dropped the oldest (${describe(dropped)}); ${dropped.kind === 'settle' ? 'its cost is in session history' : 'its hold ends with its lease'}`,
      );
    }
    if (!this.#timer && !this.#closed) {
      this.#timer = setInterval(() => void this.drain(), this.#options.retryMs ?? 1000);
      this.#timer.unref();
    }
  }

  /** Applies what it can now, in order; stops at the first settlement the ledger is still unreachable for. */
  drain(): Promise<void> {
    this.#draining ??= this.#drainOnce().finally(() => {
      this.#draining = null;
    });
    return this.#draining;
  }

  /** One last attempt, then stops; what is still pending is reported (it is in session history). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.drain();
    this.#stopTimer();
    if (this.#pending.length > 0) {
      const count = this.#pending.length;
      this.#options.report(
        `${count} settlement${count === 1 ? '' : 's'} never reached the shared ledger (unreachable until shutdown); their costs are in session history`,
      );
      this.#pending = [];
    }
  }

  async #drainOnce(): Promise<void> {
    while (this.#pending.length > 0) {
      const next = this.#pending[0];
      try {
        await this.#apply(next);
        this.#appliedSinceQueued += 1;
      } catch (error) {
        if (SettleBacklog.keeps(error)) return; // still down or stalled: the next tick tries again (idempotent by id)
        this.#options.report(`a kept settlement was refused by the ledger and is dropped (its cost is in session history): ${(error as Error).message}`);
      }
      this.#pending.shift();
    }
    this.#stopTimer();
    if (this.#appliedSinceQueued > 0) {
      const count = this.#appliedSinceQueued;
      this.#options.report(`shared ledger back: ${count} kept settlement${count === 1 ? '' : 's'} applied`);
      this.#appliedSinceQueued = 0;
    }
  }

  /**
   * Settles the reservation if it is still open; otherwise (expired, never reserved, or Redis lost it) records the
   * usage at its time; nothing if this id was settled already (an earlier attempt that did run).
   */
  async #apply(settlement: PendingSettlement): Promise<void> {
    const { ledger } = this.#options;
    if (settlement.kind === 'release') {
      await ledger.release(settlement.reservationId); // false: gone already (expired, or Redis lost it); the id is ended either way
      return;
    }
    await ledger.settle({ id: settlement.reservationId, amounts: settlement.amounts, orRecord: { scopes: settlement.scopes, at: settlement.at } });
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

function describe(settlement: PendingSettlement): string {
  if (settlement.kind === 'release') return `release of ${settlement.reservationId}`;
  return settlement.reservationId;
}
