// cllama's Responses adapter, answer side: a Responses API reply as a chat completion (spec-routing §1.4).
import { isRecord } from '../usage-fields.ts';

/** A reply translated: a chat completion, a body to pass on as it is (an error envelope), or why it cannot be. */
export type TranslatedAnswer =
  | { readonly kind: 'completion'; readonly completion: Record<string, unknown> }
  | { readonly kind: 'pass' }
  | { readonly kind: 'failed'; readonly reason: string };

const UNFINISHED = new Set(['failed', 'cancelled', 'in_progress', 'queued']);

/**
 * The chat completion a Responses reply stands for. A response that failed, was cancelled or is not done, or one
 * without an `output` array, is `failed` (never relayed as a success); a JSON body that is no response object (an
 * error envelope) is passed on as it is.
 */
export function responsesToChatCompletion(reply: unknown): TranslatedAnswer {
  if (!isRecord(reply)) return { kind: 'pass' };
  const status = typeof reply.status === 'string' ? reply.status : '';
  if (UNFINISHED.has(status)) {
    const error = isRecord(reply.error) && typeof reply.error.message === 'string' ? `: ${reply.error.message}` : '';
    return { kind: 'failed', reason: `responses API returned status "${status}"${error}` };
  }
  if (!Array.isArray(reply.output)) {
    if (reply.object === 'response' || status !== '') return { kind: 'failed', reason: 'responses API reply is missing an output array' };
    return { kind: 'pass' };
  }
  return { kind: 'completion', completion: completionOf(reply, reply.output) };
}

function completionOf(reply: Record<string, unknown>, output: readonly unknown[]): Record<string, unknown> {
  let text: string | null = null;
  let refusal = '';
  const toolCalls: unknown[] = [];
  for (const item of output) {
    if (!isRecord(item)) continue;
    if (item.type === 'message' && Array.isArray(item.content)) {
      const parts = messageParts(item.content);
      if (parts.text !== '') text = parts.text; // a later message's text replaces an earlier one's (cllama)
      refusal += parts.refusal;
    } else if (item.type === 'function_call') {
      toolCalls.push({ index: toolCalls.length, id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } });
    }
  }
  const message: Record<string, unknown> = { role: 'assistant', content: text };
  if (refusal !== '') message.refusal = refusal;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const completion: Record<string, unknown> = {};
  if (reply.id !== undefined) completion.id = reply.id;
  completion.object = 'chat.completion';
  if (reply.created_at !== undefined) completion.created = reply.created_at;
  if (reply.model !== undefined) completion.model = reply.model;
  completion.choices = [{ index: 0, message, finish_reason: finishReason(reply, toolCalls.length > 0) }];
  if (isRecord(reply.usage)) completion.usage = chatUsage(reply.usage);
  return completion;
}

function messageParts(content: readonly unknown[]): { text: string; refusal: string } {
  let text = '';
  let refusal = '';
  for (const part of content) {
    if (!isRecord(part)) continue;
    if ((part.type === 'output_text' || part.type === 'text') && typeof part.text === 'string') text += part.text;
    else if (part.type === 'refusal' && typeof part.refusal === 'string') refusal += part.refusal;
  }
  return { text, refusal };
}

function finishReason(reply: Record<string, unknown>, toolCalls: boolean): string {
  const reason = isRecord(reply.incomplete_details) ? reply.incomplete_details.reason : undefined;
  if (reason === 'max_output_tokens') return 'length';
  if (reason === 'content_filter') return 'content_filter';
  return toolCalls ? 'tool_calls' : 'stop';
}

/** Responses usage under chat names: input → prompt, output → completion, their details verbatim, `cost` kept. */
function chatUsage(usage: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if ('input_tokens' in usage) out.prompt_tokens = usage.input_tokens;
  if ('output_tokens' in usage) out.completion_tokens = usage.output_tokens;
  if ('total_tokens' in usage) out.total_tokens = usage.total_tokens;
  if ('input_tokens_details' in usage) out.prompt_tokens_details = usage.input_tokens_details;
  if ('output_tokens_details' in usage) out.completion_tokens_details = usage.output_tokens_details;
  if ('cost' in usage) out.cost = usage.cost;
  return out;
}
