// The fake upstream's answer bodies: chat completions, Anthropic messages, the Responses API (JSON and `response.*` events).

/** Usage as the fake reports it: input excludes the cached part (the wire's input_tokens counts both). */
export interface FakeUsage {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
  cost?: number;
  /** Responses API: the reasoning part of output (output_tokens_details.reasoning_tokens). */
  reasoning?: number;
}

/** What a Responses answer holds besides its text (fake-behavior.ts Behavior fields of the same names). */
export interface ResponsesShape {
  /** function_call output items (after the message, or alone when `content` is ''). */
  toolCalls?: { call_id: string; name: string; arguments: string }[];
  /** The response object's status (default completed; `incomplete` adds incomplete_details). */
  responseStatus?: string;
  /** With responseStatus incomplete: incomplete_details.reason (default max_output_tokens). */
  incompleteReason?: string;
  /** A refusal part instead of the text. */
  refusal?: string;
  /** A reasoning item first, with this encrypted_content. */
  reasoningCiphertext?: string;
}

export function responsesUsage(usage: FakeUsage) {
  const input = usage.input + (usage.cacheRead ?? 0);
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage.cacheRead ?? 0 },
    output_tokens: usage.output,
    output_tokens_details: { reasoning_tokens: usage.reasoning ?? 0 },
    total_tokens: input + usage.output,
    ...(usage.cost !== undefined ? { cost: usage.cost } : {}),
  };
}

function messageItem(text: string, shape: ResponsesShape) {
  const part = shape.refusal !== undefined ? { type: 'refusal', refusal: shape.refusal } : { type: 'output_text', text, annotations: [] };
  return { id: 'msg_fake', type: 'message', status: 'completed', role: 'assistant', content: [part] };
}

function outputItems(text: string, shape: ResponsesShape): unknown[] {
  const items: unknown[] = [];
  if (shape.reasoningCiphertext !== undefined) items.push({ id: 'rs_fake', type: 'reasoning', summary: [], encrypted_content: shape.reasoningCiphertext });
  if (text !== '' || shape.refusal !== undefined || !shape.toolCalls?.length) items.push(messageItem(text, shape));
  for (const [i, call] of (shape.toolCalls ?? []).entries()) items.push({ id: `fc_fake${i}`, type: 'function_call', status: 'completed', ...call });
  return items;
}

/** The whole response object, as a JSON answer (or a stream's response.completed event) carries it. */
export function responseObject(input: { model: string; usage: FakeUsage | null; text: string; shape: ResponsesShape; body: Record<string, unknown> }) {
  const status = input.shape.responseStatus ?? 'completed';
  return {
    id: 'resp_fake',
    object: 'response',
    created_at: 1_700_000_000,
    status,
    model: input.model,
    output: status === 'completed' || status === 'incomplete' ? outputItems(input.text, input.shape) : [],
    incomplete_details: status === 'incomplete' ? { reason: input.shape.incompleteReason ?? 'max_output_tokens' } : null,
    error: status === 'failed' ? { code: 'server_error', message: 'generation failed' } : null,
    previous_response_id: input.body.previous_response_id ?? null,
    store: input.body.store ?? true,
    usage: input.usage ? responsesUsage(input.usage) : null,
  };
}

/** The `response.*` events of a streamed answer: created, in_progress, the message's parts and deltas, completed. */
export function responsesEvents(input: {
  model: string;
  usage: FakeUsage | null;
  chunks: number;
  chunkText?: string;
  shape: ResponsesShape;
  body: Record<string, unknown>;
}): string[] {
  let sequence = 0;
  const event = (type: string, fields: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`;
  const pieces = Array.from({ length: input.chunks }, (_, i) => input.chunkText ?? `tok${i} `);
  const text = pieces.join('');
  const done = responseObject({ ...input, text });
  const started = { ...done, status: 'in_progress', output: [], usage: null, incomplete_details: null };
  const ids = { item_id: 'msg_fake', output_index: 0, content_index: 0 };
  const events = [
    event('response.created', { response: started }),
    event('response.in_progress', { response: started }),
    event('response.output_item.added', { output_index: 0, item: { id: 'msg_fake', type: 'message', status: 'in_progress', role: 'assistant', content: [] } }),
    event('response.content_part.added', { ...ids, part: { type: 'output_text', text: '', annotations: [] } }),
  ];
  for (const delta of pieces) events.push(event('response.output_text.delta', { ...ids, delta }));
  events.push(event('response.output_text.done', { ...ids, text }));
  events.push(event('response.content_part.done', { ...ids, part: { type: 'output_text', text, annotations: [] } }));
  events.push(event('response.output_item.done', { output_index: 0, item: messageItem(text, {}) }));
  const status = done.status;
  events.push(event(status === 'completed' ? 'response.completed' : status === 'incomplete' ? 'response.incomplete' : 'response.failed', { response: done }));
  return events;
}

/** The provider's model list (GET /v1/models), OpenAI's shape. */
export const FAKE_MODELS = ['gpt-4o', 'gpt-4o-mini', 'gpt-5.6-terra'];

export function modelList(): unknown {
  return { object: 'list', data: FAKE_MODELS.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'fake' })) };
}

/** Anthropic's count_tokens answer: a count from the body's size (4 bytes a token), so tests can predict it. */
export function countTokens(body: Record<string, unknown>): unknown {
  return { input_tokens: Math.ceil(JSON.stringify(body.messages ?? []).length / 4) };
}

type UsageSpec = FakeUsage | null;

export function openAIUsage(usage: NonNullable<UsageSpec>) {
  return {
    prompt_tokens: usage.input + (usage.cacheRead ?? 0),
    completion_tokens: usage.output,
    total_tokens: usage.input + (usage.cacheRead ?? 0) + usage.output,
    ...(usage.cacheRead ? { prompt_tokens_details: { cached_tokens: usage.cacheRead } } : {}),
    ...(usage.cost !== undefined ? { cost: usage.cost } : {}),
  };
}

export function anthropicUsage(usage: NonNullable<UsageSpec>) {
  return {
    input_tokens: usage.input,
    output_tokens: usage.output,
    ...(usage.cacheRead !== undefined ? { cache_read_input_tokens: usage.cacheRead } : {}),
    ...(usage.cacheWrite !== undefined ? { cache_creation_input_tokens: usage.cacheWrite } : {}),
  };
}

export function openAICompletion(model: string, usage: UsageSpec, content: string) {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    ...(usage ? { usage: openAIUsage(usage) } : {}),
  };
}

export function anthropicMessage(model: string, usage: UsageSpec, text: string) {
  return {
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: usage ? anthropicUsage(usage) : { input_tokens: 0, output_tokens: 0 },
  };
}
