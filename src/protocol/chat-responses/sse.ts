// cllama's Responses adapter, streaming agents: a translated chat completion as chat completion chunks (spec-routing §1.5).
import { isRecord } from '../usage-fields.ts';

/**
 * The whole stream of one completion, sent in one go once the upstream reply is in: role, the text in one chunk, a
 * refusal, one chunk per tool call (blank arguments as `{}`), the finish reason, the usage chunk when the completion
 * has usage and the client asked for it, then `data: [DONE]`.
 */
export function chatCompletionToSse(completion: Record<string, unknown>, options: { readonly includeUsage: boolean; readonly nowSeconds: number }): string {
  const id = typeof completion.id === 'string' && completion.id.trim() !== '' ? completion.id : 'chatcmpl-responses-adapter';
  const created = typeof completion.created === 'number' ? completion.created : options.nowSeconds;
  const model = typeof completion.model === 'string' ? completion.model : '';
  const choice = Array.isArray(completion.choices) && isRecord(completion.choices[0]) ? completion.choices[0] : {};
  const message = isRecord(choice.message) ? choice.message : {};
  let out = '';
  const chunk = (choices: unknown[], extra?: Record<string, unknown>) => {
    out += `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
  };
  const delta = (fields: Record<string, unknown>, finish: unknown = null) => chunk([{ index: 0, delta: fields, finish_reason: finish }]);
  delta({ role: 'assistant' });
  if (typeof message.content === 'string' && message.content !== '') delta({ content: message.content });
  if (typeof message.refusal === 'string' && message.refusal !== '') delta({ refusal: message.refusal });
  if (Array.isArray(message.tool_calls)) {
    for (const [index, call] of message.tool_calls.entries()) {
      if (!isRecord(call)) continue;
      const fn = isRecord(call.function) ? call.function : {};
      const args = typeof fn.arguments === 'string' && fn.arguments.trim() !== '' ? fn.arguments : '{}';
      delta({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: fn.name, arguments: args } }] });
    }
  }
  delta({}, typeof choice.finish_reason === 'string' ? choice.finish_reason : 'stop');
  if (options.includeUsage && isRecord(completion.usage)) chunk([], { usage: completion.usage });
  return `${out}data: [DONE]\n\n`;
}
