// Usage of a non-streamed Anthropic Messages response (message or error body): input, output and cache tokens.
import type { Usage } from '../usage.ts';
import { isRecord, tokenCount, usdAmount } from '../usage-fields.ts';

/**
 * Usage reported by an Anthropic-format body, or null when it reports none (absent is not zero).
 * Reads top-level `usage`, else `message.usage` (the shape of a message_start event).
 */
export function usageFromAnthropicJson(body: unknown): Usage | null {
  if (!isRecord(body)) return null;
  if (body.usage !== undefined) return usageFromAnthropicUsageObject(body.usage);
  return isRecord(body.message) ? usageFromAnthropicUsageObject(body.message.usage) : null;
}

/**
 * Maps an Anthropic `usage` object to Usage. Anthropic's input_tokens already excludes cache reads and writes.
 * `cost` is read too, for Anthropic-format gateways that report one.
 */
export function usageFromAnthropicUsageObject(raw: unknown): Usage | null {
  if (!isRecord(raw)) return null;
  const input = tokenCount(raw.input_tokens);
  const output = tokenCount(raw.output_tokens);
  const cacheWrite = tokenCount(raw.cache_creation_input_tokens);
  const cacheRead = tokenCount(raw.cache_read_input_tokens);
  const cost = usdAmount(raw.cost);
  if (input === undefined && output === undefined && cacheWrite === undefined && cacheRead === undefined && cost === undefined) return null;
  const usage: Usage = {};
  if (input !== undefined) usage.inputTokens = input;
  if (output !== undefined) usage.outputTokens = output;
  if (cacheRead !== undefined) usage.cacheReadTokens = cacheRead;
  if (cacheWrite !== undefined) usage.cacheWriteTokens = cacheWrite;
  if (cost !== undefined) usage.reportedCostUsd = cost;
  return usage;
}
