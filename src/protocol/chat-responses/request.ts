// cllama's Responses adapter, request side: a prepared chat completions body as a Responses API body (spec-routing §1.2).
import { ProxyError } from '../../errors.ts';
import { isRecord } from '../usage-fields.ts';
import type { ResponsesAdapterSettings } from './settings.ts';
import type { AdaptedRequest } from './eligible.ts';

/** Copied verbatim when present. */
const SHARED_FIELDS = [
  'model',
  'temperature',
  'top_p',
  'parallel_tool_calls',
  'metadata',
  'user',
  'safety_identifier',
  'prompt_cache_key',
  'prompt_cache_retention',
  'service_tier',
];
const EFFORTS = new Set(['none', 'minimal', 'low', 'medium', 'high']);

/**
 * Chat fields the Responses API cannot honour: present with a value that means something, the call is refused (400,
 * no upstream call), in this order; neutral values (`frequency_penalty: 0`, `logprobs: false`, `stop: []`…) are dropped.
 */
const UNSUPPORTED: readonly { readonly field: string; readonly neutral: (value: unknown) => boolean }[] = [
  { field: 'frequency_penalty', neutral: (v) => v === null || v === 0 },
  { field: 'presence_penalty', neutral: (v) => v === null || v === 0 },
  { field: 'logprobs', neutral: (v) => v === false },
  { field: 'logit_bias', neutral: (v) => v === null || (isRecord(v) && Object.keys(v).length === 0) },
  { field: 'stop', neutral: (v) => v === null || v === '' || (Array.isArray(v) && v.length === 0) },
  { field: 'seed', neutral: (v) => v === null },
  { field: 'store', neutral: (v) => v === false },
];

/**
 * The Responses body for a chat body (not mutated): messages → input items, tools flattened, tool_choice,
 * reasoning effort, max_output_tokens, response_format → text.format; `store: false` and the encrypted reasoning
 * asked for, never `stream` (the adapter's upstream call is always whole). Throws ProxyError invalid_parameter for a
 * chat field the Responses API cannot honour (`n` other than 1, a penalty, stop, seed, store…).
 */
export function chatToResponsesRequest(chat: Record<string, unknown>, settings: ResponsesAdapterSettings): AdaptedRequest {
  refuseUnsupported(chat);
  const body: Record<string, unknown> = {};
  for (const field of SHARED_FIELDS) if (chat[field] !== undefined) body[field] = chat[field];
  if (Array.isArray(chat.messages)) body.input = messagesToInput(chat.messages);
  if (Array.isArray(chat.tools)) body.tools = toolsToResponses(chat.tools);
  const interventions: string[] = [];
  if ('tool_choice' in chat) {
    let choice = toolChoiceToResponses(chat.tool_choice);
    if (settings.requiredToolChoiceAsAuto && choice === 'required') {
      choice = 'auto';
      interventions.push('responses_required_tool_choice_relaxed');
    }
    body.tool_choice = choice;
  }
  if ('reasoning_effort' in chat) body.reasoning = { effort: chat.reasoning_effort };
  else if (settings.defaultReasoningEffort !== '') {
    const effort = settings.defaultReasoningEffort;
    if (EFFORTS.has(effort)) {
      body.reasoning = { effort };
      interventions.push(`responses_reasoning_effort_defaulted:${effort}`);
    } else interventions.push(`responses_reasoning_effort_invalid:${effort}`);
  }
  if ('max_completion_tokens' in chat) body.max_output_tokens = chat.max_completion_tokens;
  else if ('max_tokens' in chat) body.max_output_tokens = chat.max_tokens;
  if (isRecord(chat.response_format)) body.text = { format: formatToText(chat.response_format) };
  body.store = false;
  body.include = ['reasoning.encrypted_content'];
  return { body, interventions };
}

function refuseUnsupported(chat: Record<string, unknown>): void {
  if ('n' in chat && chat.n !== 1) throw unsupported('n', 'n must be 1 for models routed through the Responses API');
  for (const { field, neutral } of UNSUPPORTED) {
    if (field in chat && !neutral(chat[field])) throw unsupported(field, `${field} is not supported for models routed through the Responses API`);
  }
}

function unsupported(param: string, message: string): ProxyError {
  return new ProxyError('invalid_parameter', { message, param });
}

/** messages → input items, in order: tool results as function_call_output, tool calls as function_call items. */
function messagesToInput(messages: readonly unknown[]): unknown[] {
  const input: unknown[] = [];
  for (const message of messages) {
    if (!isRecord(message)) continue;
    const role = message.role;
    if (role === 'tool' || role === 'function') {
      input.push({
        type: 'function_call_output',
        call_id: typeof message.tool_call_id === 'string' ? message.tool_call_id : '',
        output: toolOutput(message.content),
      });
      continue;
    }
    const item: Record<string, unknown> = { role, content: contentToResponses(message.content, role === 'assistant') };
    if ('name' in message) item.name = message.name;
    if (!Array.isArray(message.tool_calls)) {
      input.push(item);
      continue;
    }
    if (!isEmptyContent(message.content)) input.push(item);
    for (const call of message.tool_calls) {
      if (!isRecord(call)) continue;
      const fn = isRecord(call.function) ? call.function : {};
      input.push({ type: 'function_call', call_id: stringOr(call.id), name: stringOr(fn.name), arguments: stringOr(fn.arguments) });
    }
  }
  return input;
}

function stringOr(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function isEmptyContent(content: unknown): boolean {
  return content === undefined || content === null || content === '' || (Array.isArray(content) && content.length === 0);
}

/** A tool result's output: a string as is, null as '', parts as their texts joined, anything else as its JSON. */
function toolOutput(content: unknown): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) return content.map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : '')).join('');
  return JSON.stringify(content);
}

/** Content parts: text → input_text (output_text for the assistant), image_url → input_image with the URL string. */
function contentToResponses(content: unknown, assistant: boolean): unknown {
  if (!Array.isArray(content)) return content;
  return content.map((part) => {
    if (!isRecord(part)) return part;
    if (part.type === 'text') return { ...part, type: assistant ? 'output_text' : 'input_text' };
    if (part.type === 'image_url') {
      const { image_url: image, ...rest } = part;
      const url = isRecord(image) ? image.url : image;
      const out: Record<string, unknown> = { ...rest, type: 'input_image', image_url: url };
      if (isRecord(image) && image.detail !== undefined) out.detail = image.detail;
      return out;
    }
    return part;
  });
}

/** A function tool flattened (`{"type":"function",…function's keys}`, `strict: false` unless set); other tools unchanged. */
function toolsToResponses(tools: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const tool of tools) {
    if (!isRecord(tool)) continue;
    if (!isRecord(tool.function)) {
      out.push(tool);
      continue;
    }
    out.push({ type: 'function', ...tool.function, ...('strict' in tool.function ? {} : { strict: false }) });
  }
  return out;
}

/** Strings unchanged; `{"type":"function","function":{"name":…}}` → `{"type":"function","name":…}`. */
function toolChoiceToResponses(choice: unknown): unknown {
  if (!isRecord(choice) || !isRecord(choice.function)) return choice;
  const { function: fn, ...rest } = choice;
  return { ...rest, ...fn };
}

/** response_format → text.format: its keys but json_schema, then json_schema's keys on top. */
function formatToText(format: Record<string, unknown>): Record<string, unknown> {
  const { json_schema: schema, ...rest } = format;
  return isRecord(schema) ? { ...rest, ...schema } : rest;
}
