// cllama's Responses adapter, pure parts: which calls it takes, chat → Responses request, reply → chat, synthetic SSE (spec-routing §1).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyError } from '../../../src/errors.ts';
import { responsesToChatCompletion } from '../../../src/protocol/chat-responses/answer.ts';
import { chatToResponsesRequest } from '../../../src/protocol/chat-responses/request.ts';
import { adapterSettingsFromEnv, type ResponsesAdapterSettings } from '../../../src/protocol/chat-responses/settings.ts';
import { responsesAdapterRequired } from '../../../src/protocol/chat-responses/eligible.ts';
import { chatCompletionToSse } from '../../../src/protocol/chat-responses/sse.ts';

const DEFAULTS = adapterSettingsFromEnv({});
const ping = {
  type: 'function',
  function: { name: 'ping', description: 'ping a host', parameters: { type: 'object', properties: { host: { type: 'string' } } } },
};

function translate(chat: Record<string, unknown>, settings: ResponsesAdapterSettings = DEFAULTS) {
  return chatToResponsesRequest(chat, settings);
}

describe('which chat calls go through the Responses API', () => {
  it('takes the built-in responses-only models of provider openai, by case-sensitive prefix', () => {
    for (const model of ['gpt-5.6-terra', 'gpt-5.6-luna', 'gpt-5-pro', 'gpt-5-pro-2026-01-01'])
      assert.equal(responsesAdapterRequired(DEFAULTS, { provider: 'openai', model }), true, model);
    for (const model of ['gpt-5', 'gpt-5-mini', 'gpt-4o', 'GPT-5.6-terra'])
      assert.equal(responsesAdapterRequired(DEFAULTS, { provider: 'openai', model }), false, model);
    assert.equal(responsesAdapterRequired(DEFAULTS, { provider: 'openrouter', model: 'gpt-5.6-terra' }), false);
    assert.equal(responsesAdapterRequired(DEFAULTS, { provider: 'anthropic', model: 'claude-sonnet-5' }), false);
    assert.equal(responsesAdapterRequired(DEFAULTS, { provider: '', model: 'gpt-5.6' }), false);
  });

  it('adds CLLAMA_RESPONSES_API_MODELS entries to the built-ins, and CLLAMA_RESPONSES_API_DISABLED turns it off', () => {
    const settings = adapterSettingsFromEnv({ CLLAMA_RESPONSES_API_MODELS: ' openai/gpt-6, custom/weird-model ,noslash,/empty,x/' });
    assert.deepEqual(settings.models, [
      { provider: 'openai', prefix: 'gpt-6' },
      { provider: 'custom', prefix: 'weird-model' },
    ]);
    assert.equal(responsesAdapterRequired(settings, { provider: 'openai', model: 'gpt-6-turbo' }), true);
    assert.equal(responsesAdapterRequired(settings, { provider: 'Custom', model: 'weird-model' }), true);
    assert.equal(responsesAdapterRequired(settings, { provider: 'other', model: 'gpt-6-turbo' }), false);
    assert.equal(responsesAdapterRequired(settings, { provider: 'openai', model: 'gpt-5.6-terra' }), true);
    for (const on of ['1', 'true', ' YES ', 'on']) {
      assert.equal(
        responsesAdapterRequired(adapterSettingsFromEnv({ CLLAMA_RESPONSES_API_DISABLED: on }), { provider: 'openai', model: 'gpt-5.6-terra' }),
        false,
        on,
      );
    }
    assert.equal(
      responsesAdapterRequired(adapterSettingsFromEnv({ CLLAMA_RESPONSES_API_DISABLED: '2' }), { provider: 'openai', model: 'gpt-5.6-terra' }),
      true,
    );
  });
});

describe('chat request → Responses request', () => {
  it('case 1: input items, flattened function tool with strict false, reasoning, store false, encrypted reasoning, no stream', () => {
    const chat = {
      model: 'gpt-5.6-terra',
      messages: [{ role: 'user', content: 'hi' }],
      tools: [ping],
      reasoning_effort: 'high',
      stream: true,
      stream_options: { include_usage: true },
    };
    const frozen = structuredClone(chat);
    const { body, interventions } = translate(chat);
    assert.deepEqual(chat, frozen, 'the chat body is not mutated');
    assert.equal(body.model, 'gpt-5.6-terra');
    assert.deepEqual(body.input, [{ role: 'user', content: 'hi' }]);
    assert.equal('messages' in body || 'stream' in body || 'stream_options' in body || 'instructions' in body, false);
    assert.deepEqual(body.tools, [{ type: 'function', name: 'ping', description: 'ping a host', parameters: ping.function.parameters, strict: false }]);
    assert.deepEqual(body.reasoning, { effort: 'high' });
    assert.equal(body.store, false);
    assert.deepEqual(body.include, ['reasoning.encrypted_content']);
    assert.deepEqual(interventions, []);
    const strict = translate({ tools: [{ type: 'function', function: { name: 'x', strict: true } }, { type: 'web_search' }, 'junk'] });
    assert.deepEqual(strict.body.tools, [{ type: 'function', name: 'x', strict: true }, { type: 'web_search' }]);
  });

  it('case 6 and 7: n other than 1 and meaningful unsupported fields are refused with the field named', () => {
    const refused: [Record<string, unknown>, string][] = [
      [{ n: 2 }, 'n must be 1 for models routed through the Responses API'],
      [{ n: null }, 'n must be 1 for models routed through the Responses API'],
      [{ n: '1' }, 'n must be 1 for models routed through the Responses API'],
      [{ stop: 'END' }, 'stop is not supported for models routed through the Responses API'],
      [{ seed: 42 }, 'seed is not supported for models routed through the Responses API'],
      [{ seed: 0 }, 'seed is not supported for models routed through the Responses API'],
      [{ store: true }, 'store is not supported for models routed through the Responses API'],
      [{ frequency_penalty: 0.5 }, 'frequency_penalty is not supported for models routed through the Responses API'],
      [{ presence_penalty: 1 }, 'presence_penalty is not supported for models routed through the Responses API'],
      [{ logit_bias: { 1: 1 } }, 'logit_bias is not supported for models routed through the Responses API'],
      [{ logprobs: true }, 'logprobs is not supported for models routed through the Responses API'],
      [{ logprobs: null }, 'logprobs is not supported for models routed through the Responses API'],
    ];
    for (const [chat, message] of refused) {
      assert.throws(
        () => translate({ model: 'm', ...chat }),
        (error: unknown) => error instanceof ProxyError && error.status === 400 && error.message === message,
        JSON.stringify(chat),
      );
    }
    const { body } = translate({
      model: 'm',
      n: 1,
      frequency_penalty: 0,
      presence_penalty: null,
      logprobs: false,
      logit_bias: {},
      stop: [],
      seed: null,
      store: false,
      stream_options: { include_usage: true },
      parallel_tool_calls: true,
      top_logprobs: 2,
      functions: [],
      modalities: ['text'],
    });
    assert.deepEqual(Object.keys(body).sort(), ['include', 'model', 'parallel_tool_calls', 'store']);
    assert.equal(body.parallel_tool_calls, true);
  });

  it('case 8: caps, tool_choice and response_format mapped; shared fields copied', () => {
    assert.equal(translate({ max_completion_tokens: 256, max_tokens: 9 }).body.max_output_tokens, 256);
    assert.equal(translate({ max_tokens: 128 }).body.max_output_tokens, 128);
    assert.deepEqual(translate({ tool_choice: { type: 'function', function: { name: 'ping' } } }).body.tool_choice, { type: 'function', name: 'ping' });
    assert.equal(translate({ tool_choice: 'none' }).body.tool_choice, 'none');
    assert.deepEqual(translate({ response_format: { type: 'json_object' } }).body.text, { format: { type: 'json_object' } });
    const schema = { type: 'object', properties: {} };
    assert.deepEqual(translate({ response_format: { type: 'json_schema', json_schema: { name: 'reply', schema, strict: true } } }).body.text, {
      format: { type: 'json_schema', name: 'reply', schema, strict: true },
    });
    const shared = {
      temperature: 0.2,
      top_p: 0.9,
      metadata: { a: '1' },
      user: 'u',
      safety_identifier: 's',
      prompt_cache_key: 'k',
      prompt_cache_retention: '24h',
      service_tier: 'flex',
    };
    const { body } = translate(shared);
    for (const [key, value] of Object.entries(shared)) assert.deepEqual(body[key], value, key);
  });

  it('case 9: tool-call rounds and content parts become input items, in order', () => {
    const { body } = translate({
      messages: [
        { role: 'system', content: 'be brief' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'ping it' },
            { type: 'image_url', image_url: { url: 'https://x/img.png', detail: 'low' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'ping', arguments: '{"host":"example.com"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_abc', content: 'pong' },
        { role: 'assistant', content: [{ type: 'text', text: 'done' }], tool_calls: [{ id: 'call_2', function: { name: 'ping' } }] },
        {
          role: 'tool',
          tool_call_id: 'call_2',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
        { role: 'tool', content: null },
        'not an object',
      ],
    });
    assert.deepEqual(body.input, [
      { role: 'system', content: 'be brief' },
      {
        role: 'user',
        content: [
          { type: 'input_text', text: 'ping it' },
          { type: 'input_image', image_url: 'https://x/img.png', detail: 'low' },
        ],
      },
      { type: 'function_call', call_id: 'call_abc', name: 'ping', arguments: '{"host":"example.com"}' },
      { type: 'function_call_output', call_id: 'call_abc', output: 'pong' },
      { role: 'assistant', content: [{ type: 'output_text', text: 'done' }] },
      { type: 'function_call', call_id: 'call_2', name: 'ping', arguments: '' },
      { type: 'function_call_output', call_id: 'call_2', output: 'ab' },
      { type: 'function_call_output', call_id: '', output: '' },
    ]);
  });

  it('case 10: the default reasoning effort applies when the caller set none, and is reported', () => {
    const medium = adapterSettingsFromEnv({ CLLAMA_RESPONSES_DEFAULT_REASONING_EFFORT: ' MEDIUM ' });
    assert.deepEqual(translate({}, medium), {
      body: { reasoning: { effort: 'medium' }, store: false, include: ['reasoning.encrypted_content'] },
      interventions: ['responses_reasoning_effort_defaulted:medium'],
    });
    const caller = translate({ reasoning_effort: 'high' }, medium);
    assert.deepEqual([caller.body.reasoning, caller.interventions], [{ effort: 'high' }, []]);
    const turbo = translate({}, adapterSettingsFromEnv({ CLLAMA_RESPONSES_DEFAULT_REASONING_EFFORT: 'turbo' }));
    assert.deepEqual([turbo.body.reasoning, turbo.interventions], [undefined, ['responses_reasoning_effort_invalid:turbo']]);
  });

  it('case 11: CLLAMA_RESPONSES_REQUIRED_TOOL_CHOICE_AS_AUTO relaxes only "required", reported before the effort', () => {
    const relax = adapterSettingsFromEnv({ CLLAMA_RESPONSES_REQUIRED_TOOL_CHOICE_AS_AUTO: '1', CLLAMA_RESPONSES_DEFAULT_REASONING_EFFORT: 'low' });
    const relaxed = translate({ tool_choice: 'required' }, relax);
    assert.equal(relaxed.body.tool_choice, 'auto');
    assert.deepEqual(relaxed.interventions, ['responses_required_tool_choice_relaxed', 'responses_reasoning_effort_defaulted:low']);
    assert.equal(translate({ tool_choice: 'none' }, relax).body.tool_choice, 'none');
    const kept = translate({ tool_choice: 'required' });
    assert.deepEqual([kept.body.tool_choice, kept.interventions], ['required', []]);
  });
});

/** The first choice of a reply translated to a completion. */
function firstChoice(reply: Record<string, unknown>): Record<string, unknown> {
  const answer = responsesToChatCompletion(reply);
  assert.equal(answer.kind, 'completion');
  return ((answer as { completion: Record<string, unknown> }).completion.choices as Record<string, unknown>[])[0];
}

describe('Responses reply → chat completion', () => {
  it('maps text and usage (cached input, reasoning tokens), dropping reasoning items', () => {
    const reply = {
      id: 'resp_1',
      object: 'response',
      created_at: 1750000000,
      status: 'completed',
      model: 'gpt-5.6-terra',
      output: [
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'hello' }] },
      ],
      usage: {
        input_tokens: 10,
        input_tokens_details: { cached_tokens: 2 },
        output_tokens: 5,
        output_tokens_details: { reasoning_tokens: 3 },
        total_tokens: 15,
      },
    };
    assert.deepEqual(responsesToChatCompletion(reply), {
      kind: 'completion',
      completion: {
        id: 'resp_1',
        object: 'chat.completion',
        created: 1750000000,
        model: 'gpt-5.6-terra',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: 10,
          completion_tokens: 5,
          total_tokens: 15,
          prompt_tokens_details: { cached_tokens: 2 },
          completion_tokens_details: { reasoning_tokens: 3 },
        },
      },
    });
  });

  it('case 1 and 18: function calls, finish reasons, refusal', () => {
    const choice = firstChoice({
      object: 'response',
      status: 'completed',
      output: [{ type: 'function_call', id: 'fc_1', call_id: 'call_abc', name: 'ping', arguments: '{}' }],
    });
    assert.deepEqual(choice, {
      index: 0,
      message: { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_abc', type: 'function', function: { name: 'ping', arguments: '{}' } }] },
      finish_reason: 'tool_calls',
    });
    const finish = (reply: Record<string, unknown>) => firstChoice({ status: 'incomplete', output: [], ...reply }).finish_reason;
    assert.equal(finish({ incomplete_details: { reason: 'max_output_tokens' } }), 'length');
    assert.equal(finish({ incomplete_details: { reason: 'content_filter' } }), 'content_filter');
    assert.deepEqual(firstChoice({ status: 'completed', output: [{ type: 'message', content: [{ type: 'refusal', refusal: 'no' }] }] }).message, {
      role: 'assistant',
      content: null,
      refusal: 'no',
    });
  });

  it('case 12: a failed, cancelled or unfinished response, or one without output, is never a success; an error envelope passes', () => {
    assert.deepEqual(responsesToChatCompletion({ object: 'response', status: 'failed', error: { message: 'generation failed' }, output: [] }), {
      kind: 'failed',
      reason: 'responses API returned status "failed": generation failed',
    });
    for (const status of ['cancelled', 'in_progress', 'queued']) assert.equal(responsesToChatCompletion({ status, output: [] }).kind, 'failed', status);
    assert.deepEqual(responsesToChatCompletion({ object: 'response' }), { kind: 'failed', reason: 'responses API reply is missing an output array' });
    assert.deepEqual(responsesToChatCompletion({ error: { message: 'bad' } }), { kind: 'pass' });
    assert.deepEqual(responsesToChatCompletion('text'), { kind: 'pass' });
  });
});

describe('synthetic SSE for streaming agents', () => {
  const events = (text: string) =>
    text
      .split('\n\n')
      .filter(Boolean)
      .map((block) => block.slice('data: '.length))
      .map((data) => (data === '[DONE]' ? data : JSON.parse(data)));

  it('case 5: role, all the text in one chunk, finish, usage when asked, [DONE]', () => {
    const completion = {
      id: 'resp_1',
      created: 5,
      model: 'gpt-5.6-terra',
      choices: [{ index: 0, message: { role: 'assistant', content: 'streamed hello' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 4, completion_tokens: 2 },
    };
    const chunks = events(chatCompletionToSse(completion, { includeUsage: true, nowSeconds: 9 }));
    assert.deepEqual(
      chunks.map((c) => (c === '[DONE]' ? c : (c.choices[0]?.delta ?? c.usage))),
      [{ role: 'assistant' }, { content: 'streamed hello' }, {}, { prompt_tokens: 4, completion_tokens: 2 }, '[DONE]'],
    );
    assert.equal(chunks[2].choices[0].finish_reason, 'stop');
    assert.deepEqual([chunks[0].id, chunks[0].object, chunks[0].created, chunks[0].model], ['resp_1', 'chat.completion.chunk', 5, 'gpt-5.6-terra']);
    assert.equal(events(chatCompletionToSse(completion, { includeUsage: false, nowSeconds: 9 })).length, 4, 'no usage chunk unless asked');
  });

  it('tool calls one chunk each, blank arguments as {}, defaults for id and created', () => {
    const completion = {
      choices: [
        {
          message: {
            content: null,
            tool_calls: [
              { id: 'call_1', function: { name: 'ping', arguments: '' } },
              { id: 'call_2', function: { name: 'pong', arguments: '{"a":1}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
    };
    const chunks = events(chatCompletionToSse(completion, { includeUsage: true, nowSeconds: 9 }));
    assert.deepEqual(chunks[1].choices[0].delta, { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'ping', arguments: '{}' } }] });
    assert.deepEqual(chunks[2].choices[0].delta.tool_calls[0].index, 1);
    assert.equal(chunks[3].choices[0].finish_reason, 'tool_calls');
    assert.deepEqual([chunks[0].id, chunks[0].created, chunks[0].model], ['chatcmpl-responses-adapter', 9, '']);
  });
});
