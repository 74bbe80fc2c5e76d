// What the pipeline asks of the budget engine, and what it gets back: an admission decision and a ticket to settle.
import type { Agent } from '../auth/agent.ts';
import type { ProxyError } from '../errors.ts';
import type { Usage } from '../protocol/usage.ts';
import type { LoopFingerprint } from '../protocol/loop-fingerprint.ts';

export interface AdmitRequest {
  readonly requestId: string;
  readonly agent: Agent;
  /** Provider and upstream model the request will go to (after routing). */
  readonly provider: string;
  readonly model: string;
  /** `provider/model` as the agent asked for it. */
  readonly requestedModel: string;
  /**
   * Input tokens estimated from the body, the output cap the client set times its choices (null when it set none),
   * and the choices asked for (`n`, default 1), which multiply the default cap reserved when the client set none.
   */
  readonly estimate: { readonly inputTokens: number; readonly maxOutputTokens: number | null; readonly choices?: number };
  /** The route's path (`/v1/messages` reaches only Anthropic models): a downgrade must be routable on it. */
  readonly path?: string;
  /** The request's headers (the session id is read from the one the policy names). */
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** The loop breaker's input: hashes of the request (protocol/loop-fingerprint.ts); absent: not checked. */
  readonly fingerprint?: LoopFingerprint;
  /** Set by the engine: the session the request named (policy `session`). */
  readonly sessionId?: string | null;
}

export type AdmissionOutcome = 'allow' | 'soft' | 'block' | 'unavailable';

export interface SettleActual {
  /** Null when the upstream reported no usage at all. */
  readonly usage: Usage | null;
  /** Null when the price is unknown. */
  readonly costMicros: number | null;
}

/** A reservation handle: settled or released exactly once; a second call is a no-op that is reported, never double-counted. */
export interface BudgetTicket {
  settle(actual: SettleActual): Promise<void>;
  release(): Promise<void>;
  readonly done: boolean;
}

export interface Admission {
  readonly outcome: AdmissionOutcome;
  /** Present whenever usage must be settled (allow, soft, and fail-open unavailable where the ledger still works). */
  readonly ticket: BudgetTicket | null;
  /** Standing headers for the response: x-ratelimit-* and x-tollgate-budget-*. */
  readonly headers: Readonly<Record<string, string>>;
  /** Set when the request must not go upstream (block, or unavailable with fail mode closed). */
  readonly error: ProxyError | null;
  /** `provider/model` to route to instead of the requested one (policy `downgrade_to`), or null. */
  readonly downgradeTo: string | null;
  /**
   * The output cap per choice tollgate sets on the upstream request because the client set none: what it reserved,
   * so the reservation bounds the cost. Absent or null: the request goes as the client sent it.
   */
  readonly outputCap?: number | null;
}

export interface BudgetEngine {
  admit(request: AdmitRequest): Promise<Admission>;
}
