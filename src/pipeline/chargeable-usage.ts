// What a finished call is charged: the usage the provider reported, with any side it left out estimated (and flagged).
import { BYTES_PER_TOKEN, estimateInputTokens, textSize } from '../budget/estimate.ts';
import { hasUsage, type Usage } from '../protocol/usage.ts';
import type { RelayResult } from '../stream/tap.ts';
import type { WireFormat } from '../upstream/provider.ts';

export interface ChargeableUsageInput {
  /** The request body as the agent sent it. */
  readonly body: Record<string, unknown>;
  readonly dialect: WireFormat;
  /** Upstream answered 2xx. */
  readonly ok: boolean;
  readonly relay: RelayResult;
  /** The upstream was working on the call (a 2xx answer, or cut while it had the request): a cut call's prompt counts. */
  readonly upstreamWorked: boolean;
}

/**
 * Consumed tokens are never free. A call consumed tokens when it completed with a 2xx, or was cut (by the client, a
 * deadline, the upstream) while the upstream was working on it, after data flowed or usage arrived; for such a call the
 * side of the usage the provider did not report (an OpenAI-compatible server that ignores `include_usage`, a stream
 * cut before its usage chunk, a call cut before any answer, a count that was not a whole number) is estimated: input
 * from the request body as admission estimates it, output as one token per relayed SSE data event or the generated
 * text of a JSON answer at 3 bytes per token (none for a cut JSON answer: what was generated is unknowable). Such
 * usage carries `estimated: true`. A call that consumed nothing (an upstream error without usage, a request the
 * upstream never worked on) is charged what it reported, or nothing.
 */
export function chargeableUsage(input: ChargeableUsageInput): Usage | null {
  const { relay } = input;
  const reported = hasUsage(relay.usage) ? relay.usage : null;
  const consumed = relay.end === 'complete' ? input.ok : reported !== null || relay.dataEvents > 0 || input.upstreamWorked;
  if (!consumed) return reported;
  const hasInput = reported !== null && (reported.inputTokens !== undefined || reported.cacheReadTokens !== undefined || reported.cacheWriteTokens !== undefined);
  const hasOutput = reported?.outputTokens !== undefined;
  if (hasInput && hasOutput) return reported;
  const usage: Usage = reported === null ? {} : { ...reported };
  if (!hasInput) usage.inputTokens = estimateInputTokens(input.body, input.dialect);
  if (!hasOutput) usage.outputTokens = relay.sse ? relay.dataEvents : relay.end === 'complete' ? estimateOutputTokens(relay, input.dialect) : 0;
  usage.estimated = true;
  return usage;
}

/** The generated part of a JSON answer (OpenAI `choices`, Anthropic `content`), else the whole body, at 3 bytes per token. */
function estimateOutputTokens(relay: RelayResult, dialect: WireFormat): number {
  const json = relay.json;
  const generated = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)[dialect === 'anthropic' ? 'content' : 'choices'] : undefined;
  const bytes = generated === undefined ? Buffer.byteLength(relay.bodyText, 'utf8') : textSize([generated]).bytes;
  return Math.ceil(bytes / BYTES_PER_TOKEN);
}
