// Prepares an Anthropic messages request for upstream: only the model is rewritten (Anthropic streams always carry usage).
import type { PreparedRequest } from '../openai/request.ts';

export function prepareAnthropicRequest(body: Record<string, unknown>, upstreamModel: string): PreparedRequest {
  return { upstreamBody: { ...body, model: upstreamModel }, stream: body.stream === true, clientWantsUsage: true };
}
