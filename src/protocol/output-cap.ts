// Sets tollgate's output cap on an upstream request the client sent without one, in the field the route's provider reads.
import type { WireFormat } from './wire-format.ts';

export type OutputCapField = 'max_tokens' | 'max_completion_tokens';

/**
 * The field that caps output on a route: Anthropic `max_tokens`; OpenAI itself `max_completion_tokens` (its reasoning
 * models refuse `max_tokens`); every other OpenAI-format provider `max_tokens`, the field they all read.
 */
export function outputCapField(input: { readonly dialect: WireFormat; readonly provider: string }): OutputCapField {
  return input.dialect === 'openai' && input.provider === 'openai' ? 'max_completion_tokens' : 'max_tokens';
}

/** Adds the cap to the upstream body (a fresh object the route owns); returns the field it set. */
export function setOutputCap(input: { readonly body: Record<string, unknown>; readonly dialect: WireFormat; readonly provider: string; readonly cap: number }): OutputCapField {
  const field = outputCapField(input);
  input.body[field] = input.cap;
  return field;
}
