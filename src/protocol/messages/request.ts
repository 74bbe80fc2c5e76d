// Prepares an Anthropic messages request for upstream: only the model is rewritten (Anthropic streams always carry usage).
import type { PreparedRequest } from '../protocol.ts';

export function prepareMessagesRequest(body: Record<string, unknown>, upstreamModel: string): PreparedRequest {
  return { upstreamBody: { ...body, model: upstreamModel }, stream: body.stream === true, clientWantsUsage: true };
}
