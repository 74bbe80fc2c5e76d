// Token usage as reported by a provider. Absent is not zero: a field the provider did not report stays undefined.
export interface Usage {
  /** Input tokens billed at the full input rate (OpenAI: prompt_tokens minus cached; Anthropic: input_tokens). */
  inputTokens?: number;
  outputTokens?: number;
  /** Input tokens read from the provider's prompt cache. */
  cacheReadTokens?: number;
  /** Input tokens written to the provider's prompt cache (Anthropic cache_creation_input_tokens). */
  cacheWriteTokens?: number;
  /** Output tokens spent reasoning (OpenAI `reasoning_tokens`): part of outputTokens, priced with it; shown, not added. */
  reasoningTokens?: number;
  /** Cost the provider itself reported (OpenRouter `usage.cost`), in USD as sent. */
  reportedCostUsd?: number;
  /** Some counts are tollgate's estimate: the provider did not report them for a call that consumed tokens. */
  estimated?: boolean;
}

/** Total prompt-side tokens, as OpenAI counts prompt_tokens (fresh + cache read + cache write). */
export function totalInputTokens(usage: Usage): number {
  return (usage.inputTokens ?? 0) + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
}

export function hasUsage(usage: Usage | null | undefined): usage is Usage {
  return (
    !!usage &&
    (usage.inputTokens !== undefined ||
      usage.outputTokens !== undefined ||
      usage.cacheReadTokens !== undefined ||
      usage.cacheWriteTokens !== undefined ||
      usage.reportedCostUsd !== undefined)
  );
}
