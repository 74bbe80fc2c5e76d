// The one table of coded errors: every error tollgate returns has a code, an HTTP status, a retry hint and a message.
export type ErrorCode = keyof typeof ERRORS;

export interface ErrorSpec {
  readonly status: number;
  /** Whether a client may retry the same request later. Rendered as `x-should-retry`. */
  readonly retryable: boolean;
  /** Default human message; a thrown error may carry a more precise one. */
  readonly message: string;
}

export const ERRORS = {
  // cllama's messages (scripts match on them); the statuses are 401 where cllama said 403 (docs/errors.md)
  auth_missing: { status: 401, retryable: false, message: 'invalid bearer token' },
  auth_invalid: { status: 401, retryable: false, message: 'invalid agent secret' },
  invalid_json: { status: 400, retryable: false, message: 'invalid JSON body' },
  invalid_request: { status: 400, retryable: false, message: 'invalid request' },
  body_too_large: { status: 413, retryable: false, message: 'request body too large' },
  body_too_deep: { status: 400, retryable: false, message: 'request body nested too deeply' },
  malformed_http: { status: 400, retryable: false, message: 'malformed HTTP request' },
  request_timeout: { status: 408, retryable: true, message: 'the request did not arrive in time' },
  client_closed: { status: 499, retryable: true, message: 'the client closed the connection before its request was read' },
  headers_too_large: {
    status: 431,
    retryable: false,
    message: 'request headers too large (over 16 KiB): a token or header is far longer than any agent sends',
  },
  invalid_parameter: { status: 400, retryable: false, message: 'invalid request parameter' },
  missing_model: { status: 400, retryable: false, message: 'missing model' },
  invalid_model_name: { status: 400, retryable: false, message: 'model name holds an invisible or control character' },
  unknown_provider: { status: 400, retryable: false, message: 'unknown provider' },
  model_not_routable: { status: 400, retryable: false, message: 'model must be provider-prefixed: <provider>/<model>' },
  model_not_allowed: { status: 400, retryable: false, message: "model not allowed by this agent's model policy" },
  model_policy_invalid: { status: 403, retryable: false, message: 'model policy unusable' },
  model_policy_incompatible: { status: 502, retryable: false, message: 'model policy requires anthropic-compatible provider on /v1/messages' },
  circuit_open: { status: 503, retryable: true, message: 'every candidate of the model policy is cooling off after repeated failures' },
  provider_not_configured: { status: 502, retryable: false, message: 'provider auth not configured' },
  // the key pool (src/keys/): cllama's messages
  provider_keys_cooling: { status: 503, retryable: true, message: 'all declared provider keys in cooldown' },
  provider_keys_unusable: { status: 502, retryable: false, message: 'no usable declared provider key after retries' },
  upstream_unreachable: { status: 502, retryable: true, message: 'upstream request failed' },
  upstream_timeout: { status: 504, retryable: true, message: 'upstream timed out' },
  upstream_response_too_large: { status: 502, retryable: false, message: 'upstream response too large' },
  upstream_redirect: { status: 502, retryable: false, message: 'upstream answered with a redirect' },
  upstream_bad_encoding: { status: 502, retryable: false, message: 'upstream answered with a content-encoding tollgate cannot decode' },
  responses_adapter_failed: { status: 502, retryable: true, message: 'failed to translate responses API reply' },
  budget_exceeded: { status: 429, retryable: false, message: 'budget exceeded' },
  rate_limited: { status: 429, retryable: true, message: 'rate limited by budget policy' },
  loop_detected: { status: 429, retryable: true, message: 'the agent repeats itself: the same request or tool call again and again' },
  invalid_session: { status: 400, retryable: false, message: 'invalid session id' },
  unknown_cost_blocked: { status: 429, retryable: false, message: 'model price unknown and policy blocks unknown-cost requests' },
  budget_unavailable: { status: 503, retryable: true, message: 'budget enforcement unavailable' },
  capacity_exhausted: {
    status: 503,
    retryable: true,
    message: 'tollgate holds as many request bytes as it is configured for (TOLLGATE_MAX_BYTES_IN_FLIGHT): retry shortly',
  },
  agent_capacity_exhausted: {
    status: 429,
    retryable: true,
    message: 'this agent holds its share of request bytes in flight (TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT): retry once its calls in flight finish',
  },
  too_many_connections: {
    status: 503,
    retryable: true,
    message: 'tollgate has as many open connections as it is configured for (TOLLGATE_MAX_CONNECTIONS): retry shortly',
  },
  not_found: { status: 404, retryable: false, message: 'not found' },
  method_not_allowed: { status: 405, retryable: false, message: 'method not allowed' },
  internal: { status: 500, retryable: true, message: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

/** An error that leaves the pipeline through the single error exit and is rendered in the caller's wire format. */
export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Extra top-level fields merged into the error body (e.g. the `budget` object on a 429). */
  readonly extra: Record<string, unknown> | undefined;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Record<string, string> | undefined;
  /** The request field at fault (the OpenAI envelope's `param`). */
  readonly param: string | undefined;

  constructor(
    code: ErrorCode,
    options: { message?: string; extra?: Record<string, unknown>; headers?: Record<string, string>; param?: string; cause?: unknown } = {},
  ) {
    const spec: ErrorSpec = ERRORS[code];
    super(options.message ?? spec.message, { cause: options.cause });
    this.name = 'ProxyError';
    this.code = code;
    this.status = spec.status;
    this.retryable = spec.retryable;
    this.extra = options.extra;
    this.headers = options.headers;
    this.param = options.param;
  }
}

export function isProxyError(value: unknown): value is ProxyError {
  return value instanceof ProxyError;
}
