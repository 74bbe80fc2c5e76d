// Usage of a non-streamed OpenAI-format response (chat completion or error body): prompt, completion, cache tokens, reported cost.
import type { Usage } from '../usage.ts';
import { isRecord, tokenCount, usdAmount } from '../usage-fields.ts';

/** Usage reported by an OpenAI-format body, or null when it reports none (absent is not zero). */
export function usageFromOpenAIJson(body: unknown): Usage | null {
  return isRecord(body) ? usageFromOpenAIUsageObject(body.usage) : null;
}

/**
 * Maps an OpenAI `usage` object to Usage. `prompt_tokens` counts every prompt token, cached or not,
 * so inputTokens = prompt_tokens − cached_tokens − cache_write_tokens (OpenRouter reports cache writes there).
 * Falls back to the Responses-API names (`input_tokens`, `output_tokens`, `input_tokens_details`, `output_tokens_details`).
 * Reasoning tokens (`*_tokens_details.reasoning_tokens`) are kept apart for the record; they are already in the output count.
 */
export function usageFromOpenAIUsageObject(raw: unknown): Usage | null {
  if (!isRecord(raw)) return null;
  const prompt = tokenCount(raw.prompt_tokens) ?? tokenCount(raw.input_tokens);
  const completion = tokenCount(raw.completion_tokens) ?? tokenCount(raw.output_tokens);
  const details = isRecord(raw.prompt_tokens_details) ? raw.prompt_tokens_details : isRecord(raw.input_tokens_details) ? raw.input_tokens_details : undefined;
  const cacheRead = details && tokenCount(details.cached_tokens);
  const cacheWrite = details && tokenCount(details.cache_write_tokens);
  const outputDetails = isRecord(raw.completion_tokens_details)
    ? raw.completion_tokens_details
    : isRecord(raw.output_tokens_details)
      ? raw.output_tokens_details
      : undefined;
  const reasoning = outputDetails && tokenCount(outputDetails.reasoning_tokens);
  const cost = usdAmount(raw.cost);
  if (prompt === undefined && completion === undefined && cacheRead === undefined && cacheWrite === undefined && cost === undefined) return null;
  const usage: Usage = {};
  if (prompt !== undefined) usage.inputTokens = Math.max(0, prompt - (cacheRead ?? 0) - (cacheWrite ?? 0));
  if (completion !== undefined) usage.outputTokens = completion;
  if (cacheRead !== undefined) usage.cacheReadTokens = cacheRead;
  if (cacheWrite !== undefined) usage.cacheWriteTokens = cacheWrite;
  if (reasoning !== undefined && completion !== undefined) usage.reasoningTokens = reasoning;
  if (cost !== undefined) usage.reportedCostUsd = cost;
  return usage;
}
