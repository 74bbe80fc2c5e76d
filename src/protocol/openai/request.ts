// Prepares an OpenAI chat request for upstream: model rewritten, usage requested on streams (the client's wish remembered).
export interface PreparedRequest {
  readonly upstreamBody: Record<string, unknown>;
  readonly stream: boolean;
  /** Whether the client itself asked for usage in the stream (else tollgate strips the usage-only chunk). */
  readonly clientWantsUsage: boolean;
}

export function prepareOpenAIRequest(body: Record<string, unknown>, upstreamModel: string): PreparedRequest {
  const stream = body.stream === true;
  const options = isObject(body.stream_options) ? body.stream_options : undefined;
  const clientWantsUsage = options?.include_usage === true;
  const upstreamBody: Record<string, unknown> = { ...body, model: upstreamModel };
  if (stream && !clientWantsUsage) upstreamBody.stream_options = { ...options, include_usage: true };
  return { upstreamBody, stream, clientWantsUsage };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
