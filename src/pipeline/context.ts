// The one object a request carries through the pipeline; each step fills in its part.
import type { Agent } from '../auth/agent.ts';
import type { Admission } from '../budget/admission.ts';
import type { Usage } from '../protocol/usage.ts';
import type { PriceQuote } from '../pricing/pricer.ts';
import type { ByteHold } from '../transport/bytes-in-flight.ts';
import type { Route, WireFormat } from '../upstream/provider.ts';

export interface RequestContext {
  readonly id: string;
  /** Wall-clock start, ms since epoch. */
  readonly startedAt: number;
  readonly dialect: WireFormat;
  /** Request path without query, e.g. /v1/chat/completions. */
  readonly path: string;
  readonly query: string;
  agent?: Agent;
  /** The call's bytes in flight (its body, an answer held whole, a stream's copy for history): released when it ends. */
  bytes?: ByteHold;
  /** Parsed request body as the agent sent it. */
  body?: Record<string, unknown>;
  /** The body's text as the agent sent it (recorded as request_original without serialising the parsed body again). */
  bodyText?: string;
  stream: boolean;
  /** Whether the client asked for the usage chunk itself (OpenAI stream_options.include_usage). */
  clientWantsUsage: boolean;
  route?: Route;
  /** Body sent upstream (model rewritten, usage requested). */
  upstreamBody?: Record<string, unknown>;
  /** upstreamBody as the JSON text sent. */
  upstreamBodyText?: string;
  admission?: Admission;
  interventions: string[];
  statusCode?: number;
  /** The upstream's own id of the call (`x-request-id`, Anthropic `request-id`), for support tickets with the provider. */
  upstreamRequestId?: string;
  usage: Usage | null;
  price?: PriceQuote;
}
