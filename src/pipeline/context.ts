// What a call carries through the pipeline, typed by how far it got: started, read, admitted.
import type { Agent } from '../auth/agent.ts';
import type { Admission } from '../budget/admission.ts';
import type { Usage } from '../protocol/usage.ts';
import type { PriceQuote } from '../pricing/pricer.ts';
import type { ByteHold } from '../transport/bytes-in-flight.ts';
import type { PolicyRouting } from '../upstream/policy-routes.ts';
import type { Route } from '../upstream/provider.ts';
import type { AdapterPlan } from './responses-adapter.ts';
import type { Protocol } from '../protocol/protocol.ts';

/** What is known of a call from its first byte: enough to answer it in its own wire format. */
export interface CallStart {
  readonly id: string;
  /** Wall-clock start, ms since epoch. */
  readonly startedAt: number;
  /** The route's wire format (protocol/index.ts), chosen once from its path. */
  readonly protocol: Protocol;
  /** Request path without query, e.g. /v1/chat/completions. */
  readonly path: string;
  readonly query: string;
}

/** A call whose caller is known and whose body is read and checked. */
export interface CallRequest extends CallStart {
  readonly agent: Agent;
  /** The call's bytes in flight (its body, an answer held whole, a stream's copy for history): released when it ends. */
  readonly bytes: ByteHold;
  /** The body's text as the agent sent it (recorded as request_original without serialising the parsed body again). */
  readonly bodyText: string;
  /** Parsed request body as the agent sent it. */
  readonly body: Record<string, unknown>;
  /** The request's headers (the budget reads the session id from the one the agent's policy names). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** A call admitted against every limit and ready to go upstream: what dispatch, settle and observe need, all present. */
export interface AdmittedCall extends CallRequest {
  readonly route: Route;
  readonly admission: Admission;
  /** Body sent upstream (model rewritten, usage requested, the reserved cap set). */
  readonly upstreamBody: Record<string, unknown>;
  readonly stream: boolean;
  /** Whether the client asked for the usage chunk itself (OpenAI stream_options.include_usage). */
  readonly clientWantsUsage: boolean;
  /**
   * A chat call to a responses-only model: sent to /responses and translated back (cllama's adapter). Set at admission,
   * or when the provider answers that the model is on the Responses API only (pipeline/adapter-retry.ts).
   */
  adapter?: AdapterPlan;
  readonly interventions: string[];
  /** upstreamBody as the JSON text sent (set by dispatch). */
  upstreamBodyText?: string;
  statusCode?: number;
  /** The upstream's own id of the call (`x-request-id`, Anthropic `request-id`), for support tickets with the provider. */
  upstreamRequestId?: string;
  /** What the call was charged (set once, by settle). */
  usage: Usage | null;
  price?: PriceQuote;
  /** When this attempt was admitted (a request under a model policy may make several). */
  readonly attemptStartedAt: number;
  /** Under a model policy: how the requested model was resolved, and every attempt of the request so far. */
  routing?: PolicyRouting;
  attempts?: AttemptSummary[];
}

/** One upstream attempt of a request under a model policy (history's `routing.attempts`). */
export interface AttemptSummary {
  readonly provider: string;
  readonly model: string;
  /** The upstream's status; 0 when it gave none (refused, reset, timed out). */
  readonly status_code: number;
  readonly latency_ms: number;
  /** µ$ the attempt was charged: 0 released, null charged at an unknown price. */
  readonly charged_micros: number | null;
}

/** How far a call got, filled as each step succeeds: what a failed call's outcome can tell, and what it holds. */
export interface CallProgress {
  readonly start: CallStart;
  agent?: Agent;
  bytes?: ByteHold;
  request?: CallRequest;
  /** The budget's answer, admitted or not (a refusal's standing headers are on it). */
  admission?: Admission;
  call?: AdmittedCall;
}
