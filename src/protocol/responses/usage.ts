// Usage of a non-streamed Responses API answer (a response object or an error body): input, cached input, output, reasoning.
import { usageFromOpenAIUsageObject } from '../chat/usage.ts';
import type { Usage } from '../usage.ts';
import { isRecord } from '../usage-fields.ts';

/**
 * Usage reported by a response object (`usage.input_tokens`, `input_tokens_details.cached_tokens`, `output_tokens`,
 * `output_tokens_details.reasoning_tokens`), also when it is wrapped as a stream's terminal event carries it
 * (`{"type":"response.completed","response":{…}}`); null when it reports none (absent is not zero). input_tokens
 * counts the cached part too, so inputTokens is input_tokens − cached_tokens, as on chat completions.
 */
export function usageFromResponsesJson(body: unknown): Usage | null {
  if (!isRecord(body)) return null;
  if (body.usage !== undefined) return usageFromOpenAIUsageObject(body.usage);
  return isRecord(body.response) ? usageFromOpenAIUsageObject(body.response.usage) : null;
}
