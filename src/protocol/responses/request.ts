// Prepares a Responses API request for upstream: only the model is rewritten (a stream's response.completed carries usage).
import type { PreparedRequest } from '../protocol.ts';

/**
 * `previous_response_id`, `store`, `background`, `include` and the rest pass as they are: tollgate meters what the
 * provider reports for this call; it cannot see the state the provider keeps between calls (docs/routes.md).
 */
export function prepareResponsesRequest(body: Record<string, unknown>, upstreamModel: string): PreparedRequest {
  return { upstreamBody: { ...body, model: upstreamModel }, stream: body.stream === true, clientWantsUsage: true };
}
