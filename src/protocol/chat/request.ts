// Prepares an OpenAI chat request for upstream: model rewritten, usage requested on streams (the client's wish remembered).
import type { PreparedRequest } from '../protocol.ts';
import { isRecord } from '../usage-fields.ts';

export function prepareChatRequest(body: Record<string, unknown>, upstreamModel: string): PreparedRequest {
  const stream = body.stream === true;
  const options = isRecord(body.stream_options) ? body.stream_options : undefined;
  const clientWantsUsage = options?.include_usage === true;
  const upstreamBody: Record<string, unknown> = { ...body, model: upstreamModel };
  if (stream && !clientWantsUsage) upstreamBody.stream_options = { ...options, include_usage: true };
  return { upstreamBody, stream, clientWantsUsage };
}
