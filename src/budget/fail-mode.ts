// When a budget check cannot run (policy unusable, ledger down or silent): refuse (closed) or pass and keep usage (open).
import { ProxyError } from '../errors.ts';
import { LedgerOutcomeUnknownError, type Ledger } from '../ledger/ledger.ts';
import type { Admission, AdmitRequest } from './admission.ts';
import type { PricedEstimate } from './cost.ts';
import type { DecisionReport } from './decision-report.ts';
import { bareScopes } from './plan.ts';
import type { EffectivePolicy } from './policy/policy.ts';
import { SettleBacklog } from './settle-backlog.ts';
import type { ReservationTicket, TicketHold } from './ticket.ts';

/**
 * What becomes of a call whose check could not run: `ledger_works` (its policy is unusable, the ledger fine: its usage is
 * recorded on the agent's own scope), `keep` (the ledger did not answer: the call's id is resolved once it does, and in
 * open mode its usage is counted on `scopes` then), or nothing.
 */
export type Fallback =
  | { readonly kind: 'ledger_works' }
  | { readonly kind: 'keep'; readonly hold: Exclude<TicketHold, 'held'>; readonly policy: EffectivePolicy; readonly scopes: readonly string[] }
  | null;

/** How the engine builds a call's ticket (engine.ts); the fail-mode path needs the same tickets. */
export type TicketMaker = (input: {
  request: AdmitRequest;
  hold: TicketHold;
  scopes: readonly string[];
  target: { readonly provider: string; readonly model: string };
  policy?: EffectivePolicy;
}) => ReservationTicket;

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

export class FailMode {
  readonly #mode: 'open' | 'closed';
  readonly #ledger: Ledger;
  readonly #backlog: SettleBacklog | undefined;
  readonly #leaseMs: number;
  readonly #report: DecisionReport;
  readonly #ticket: TicketMaker;
  /** The request's estimate at its own model, an unknown price counted as $0 (record-only tickets hold nothing). */
  readonly #estimate: (request: AdmitRequest) => PricedEstimate;

  constructor(input: {
    mode: 'open' | 'closed';
    ledger: Ledger;
    backlog?: SettleBacklog;
    leaseMs: number;
    report: DecisionReport;
    ticket: TicketMaker;
    estimate: (request: AdmitRequest) => PricedEstimate;
  }) {
    this.#mode = input.mode;
    this.#ledger = input.ledger;
    this.#backlog = input.backlog;
    this.#leaseMs = input.leaseMs;
    this.#report = input.report;
    this.#ticket = input.ticket;
    this.#estimate = input.estimate;
  }

  /**
   * The check could not run. Closed: 503 `budget_unavailable` (the pipeline logs the error); a reserve without reply is
   * released by id once the ledger answers. Open: the request passes with a `budget_check_unavailable` intervention and
   * an error event; usage is still recorded on the agent's own scope when the ledger works (no limit is checked), and on
   * every scope its policy names when the ledger did not answer (kept by the backlog until it does, counted once by id:
   * an outage or a stall costs no spend).
   */
  async unavailable(input: { request: AdmitRequest; reason: string; fallback: Fallback }): Promise<Admission> {
    const { request, reason, fallback } = input;
    this.#report.unavailable(request, { failMode: this.#mode, reason });
    if (this.#mode === 'closed') {
      if (fallback?.kind === 'keep' && fallback.hold === 'unknown') this.#releaseById(request.requestId);
      return { outcome: 'unavailable', ticket: null, headers: NO_HEADERS, error: new ProxyError('budget_unavailable', { cause: reason }), downgradeTo: null };
    }
    this.#report.intervention(request, 'budget_check_unavailable', { reason });
    this.#report.passedUnchecked(request, reason);
    let ticket: ReservationTicket | null = null;
    if (fallback?.kind === 'ledger_works') ticket = await this.#recordOnlyTicket(request);
    else if (fallback?.kind === 'keep')
      ticket = this.#ticket({ request, hold: fallback.hold, scopes: fallback.scopes, target: request, policy: fallback.policy });
    return { outcome: 'unavailable', ticket, headers: NO_HEADERS, error: null, downgradeTo: null };
  }

  /**
   * A check the ledger refused as malformed (TypeError, RangeError) is a defect, not an outage: it would fail the same
   * way for every call of the agent, so failing open would drop its budget for good, with log lines as the only sign.
   * It is refused (503) whatever CLLAMA_BUDGET_FAIL_MODE says; the fail mode is for a ledger that cannot be reached.
   */
  refuseOnDefect(request: AdmitRequest, error: Error): Admission {
    const reason = `budget check failed on a defect, refused whatever the fail mode: ${error.name}: ${error.message}`;
    this.#report.unavailable(request, { failMode: 'closed', reason });
    return { outcome: 'unavailable', ticket: null, headers: NO_HEADERS, error: new ProxyError('budget_unavailable', { cause: reason }), downgradeTo: null };
  }

  /** Ends an id whose reserve got no reply: released by the backlog as soon as the ledger answers (it retries every second). */
  #releaseById(id: string): void {
    if (this.#backlog) this.#backlog.add({ kind: 'release', reservationId: id });
    else this.#ledger.release(id).catch(() => undefined);
  }

  async #recordOnlyTicket(request: AdmitRequest): Promise<ReservationTicket | null> {
    const priced = this.#estimate(request);
    if (priced.blocked) return null;
    const scopes = bareScopes(request.agent.id);
    try {
      await this.#ledger.reserve({ id: request.requestId, scopes, amounts: priced.amounts, checks: [], leaseMs: this.#leaseMs });
    } catch (error) {
      this.#report.warning(request, `budget ledger error: ${(error as Error).message}`);
      if (!this.#backlog || !SettleBacklog.keeps(error)) return null;
      return this.#ticket({ request, hold: error instanceof LedgerOutcomeUnknownError ? 'unknown' : 'none', scopes, target: request });
    }
    return this.#ticket({ request, hold: 'held', scopes, target: request });
  }
}
