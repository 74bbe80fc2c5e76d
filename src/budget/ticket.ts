// The reservation handle given to the pipeline: settled to the actual amounts or released, exactly once, never throwing.
import type { Amounts, Ledger } from '../ledger/ledger.ts';
import type { EventBus } from '../observability/events.ts';
import { totalInputTokens } from '../protocol/usage.ts';
import type { BudgetTicket, SettleActual } from './admission.ts';
import { flatRateMicros } from '../pricing/money.ts';
import { callAmounts } from './cost.ts';
import type { FallbackRates, UnknownCostMode } from './policy/fields.ts';
import { SettleBacklog } from './settle-backlog.ts';

/**
 * What the ledger holds for the call: `held` (its reservation was admitted), `none` (nothing: an agent without limits,
 * or passed unchecked while the ledger could not be reached) or `unknown` (its reserve got no reply: it may hold, or
 * may run late and find the id ended). Every settle is counted once by id; `held` and `unknown` release by id.
 */
export type TicketHold = 'held' | 'none' | 'unknown';

export interface TicketOptions {
  readonly ledger: Ledger;
  readonly bus: EventBus;
  readonly reservationId: string;
  readonly hold: TicketHold;
  /** The reservation's scopes: usage is recorded on them if the hold is gone when the call settles (or none was made). */
  readonly scopes: readonly string[];
  readonly agentId: string;
  /** `provider/model` the request went to. */
  readonly model: string;
  readonly unknownCost: UnknownCostMode;
  readonly fallbackRates: FallbackRates | null;
  readonly now: () => number;
  /** Runs after a successful settle (threshold alerts). */
  readonly afterSettle?: () => Promise<void>;
  /** Keeps a settlement the shared ledger could not be reached for, and applies it when it is back. */
  readonly backlog?: SettleBacklog;
}

/**
 * What a finished call consumed: 1 request; tokens from usage (absent = 0); USD from `costMicros`, or when the price is
 * unknown, from the fallback rates under `unknown_cost: "estimate"` and 0 otherwise, counting 1 unknown-cost request.
 */
export function settleAmounts(input: { actual: SettleActual; unknownCost: UnknownCostMode; fallbackRates: FallbackRates | null }): Amounts {
  const { usage, costMicros } = input.actual;
  const inputTokens = usage ? wholeTokens(totalInputTokens(usage)) : 0;
  const outputTokens = usage ? wholeTokens(usage.outputTokens ?? 0) : 0;
  let usd = 0;
  if (costMicros !== null) usd = Math.max(0, Math.ceil(costMicros));
  else if (input.unknownCost === 'estimate' && input.fallbackRates && usage) {
    usd = flatRateMicros({ inputTokens, outputTokens, inputPerMTok: input.fallbackRates.input_per_mtok, outputPerMTok: input.fallbackRates.output_per_mtok });
  }
  return callAmounts({ usdMicros: usd, inputTokens, outputTokens, unknownPrice: costMicros === null });
}

export class ReservationTicket implements BudgetTicket {
  readonly #options: TicketOptions;
  #done = false;
  #duplicateReported = false;

  constructor(options: TicketOptions) {
    this.#options = options;
  }

  get done(): boolean {
    return this.#done;
  }

  async settle(actual: SettleActual): Promise<void> {
    if (this.#claim('settle')) return;
    const amounts = settleAmounts({ actual, unknownCost: this.#options.unknownCost, fallbackRates: this.#options.fallbackRates });
    if (!(await this.#charge(amounts))) return;
    // the answer's last bytes wait for this (pipeline/settle.ts): the charge is in the journal before the client sees the end
    await this.#options.ledger.durable?.();
    const { afterSettle } = this.#options;
    if (!afterSettle) return; // most policies alert on nothing: no await of undefined (a microtask turn) per call
    try {
      await afterSettle();
    } catch (error) {
      this.#report(`budget alert check after reservation ${this.#options.reservationId} failed: ${(error as Error).message}`);
    }
  }

  /** Puts the usage in the ledger; true when it landed now (false: kept for later, or failed and reported). */
  async #charge(amounts: Amounts): Promise<boolean> {
    const { ledger, reservationId, hold } = this.#options;
    const at = this.#options.now();
    const orRecord = { scopes: this.#options.scopes, at };
    try {
      if (hold !== 'held') {
        // counted once under the id: settles a hold a late reserve left, else records on the scopes
        await ledger.settle({ id: reservationId, amounts, orRecord });
      } else if (!(await ledger.settle({ id: reservationId, amounts })) && (await ledger.settle({ id: reservationId, amounts, orRecord }))) {
        // the lease ran out before the call ended: the hold is gone, but what was consumed still counts
        this.#report(`budget reservation ${reservationId} had expired before settle; usage recorded without it`);
      }
      return true;
    } catch (error) {
      const { backlog } = this.#options;
      if (backlog && SettleBacklog.keeps(error)) {
        // nothing reached the ledger, or no reply came: the backlog counts it once by id when the ledger answers again
        backlog.add({ kind: 'settle', reservationId, scopes: this.#options.scopes, amounts, at });
      } else {
        this.#report(`budget settle failed for reservation ${reservationId}: ${(error as Error).message}`);
      }
      return false;
    }
  }

  async release(): Promise<void> {
    if (this.#claim('release') || this.#options.hold === 'none') return;
    const { ledger, reservationId, backlog } = this.#options;
    try {
      await ledger.release(reservationId);
    } catch (error) {
      // released by id when the ledger answers again, rather than holding its room for the rest of its lease
      if (backlog && SettleBacklog.keeps(error)) backlog.add({ kind: 'release', reservationId });
      else this.#report(`budget release failed for reservation ${reservationId}: ${(error as Error).message}`);
    }
  }

  /** Marks the ticket done; true (and reported once) if it already was. */
  #claim(action: 'settle' | 'release'): boolean {
    if (!this.#done) {
      this.#done = true;
      return false;
    }
    if (!this.#duplicateReported) {
      this.#duplicateReported = true;
      this.#report(`budget ticket for reservation ${this.#options.reservationId}: ${action} called after it was already settled or released (ignored)`);
    }
    return true;
  }

  #report(message: string): void {
    this.#options.bus.emit({
      type: 'warning',
      claw_id: this.#options.agentId,
      model: this.#options.model,
      intervention: null,
      request_id: this.#options.reservationId,
      error: message,
    });
  }
}

function wholeTokens(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}
