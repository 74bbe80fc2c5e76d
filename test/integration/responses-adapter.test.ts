// cllama's Responses adapter through the proxy (spec-routing §1.12): responses-only chat models go to /v1/responses and back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Behavior } from '../helpers/fake-upstream.ts';
import { startHarness, PROVIDER_KEYS, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

const behaviorHeader = (behavior: Behavior) => ({ 'x-fake-behavior': JSON.stringify(behavior) });
const ping = { type: 'function' as const, function: { name: 'ping', parameters: { type: 'object', properties: { host: { type: 'string' } } } } };

describe('the Responses adapter on chat completions', () => {
  let h: Harness;
  let client: OpenAI;
  before(async () => {
    h = await startHarness({
      agents: { a: {}, b: { budget: { limit_usd: 10, window: '1h' } } },
      env: {
        CLLAMA_RESPONSES_API_MODELS: 'openai/gpt-4o-adapted',
        CLLAMA_RESPONSES_DEFAULT_REASONING_EFFORT: ' MEDIUM ',
        CLLAMA_RESPONSES_REQUIRED_TOOL_CHOICE_AS_AUTO: '1',
      },
    });
    client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
  });
  after(() => h.close());

  const recorded = async (marker: string) => {
    await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes(marker)));
    return h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes(marker)) as Record<string, unknown> & {
      usage: Record<string, number>;
    };
  };

  it('case 1: a tool-using call goes to /v1/responses translated, and its function_call comes back as tool_calls', async () => {
    const completion = await client.chat.completions.create(
      { model: 'openai/gpt-5.6-terra', messages: [{ role: 'user', content: 'case one' }], tools: [ping], reasoning_effort: 'high', max_completion_tokens: 300 },
      {
        headers: behaviorHeader({
          content: '',
          toolCalls: [{ call_id: 'call_abc', name: 'ping', arguments: '{"host":"example.com"}' }],
          usage: { input: 11, output: 7 },
        }),
      },
    );
    const seen = h.fake.requests.at(-1)!;
    assert.equal(seen.path, '/v1/responses');
    assert.equal(seen.headers.authorization, `Bearer ${PROVIDER_KEYS.openai}`);
    assert.equal(seen.headers['accept-encoding'], 'identity');
    assert.equal(seen.body.model, 'gpt-5.6-terra');
    assert.ok(Array.isArray(seen.body.input) && !('messages' in seen.body) && !('stream' in seen.body));
    assert.deepEqual((seen.body.tools as unknown[])[0], { type: 'function', name: 'ping', parameters: ping.function.parameters, strict: false });
    assert.deepEqual(
      [seen.body.reasoning, seen.body.store, seen.body.include, seen.body.max_output_tokens],
      [{ effort: 'high' }, false, ['reasoning.encrypted_content'], 300],
    );
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.choices[0].finish_reason, 'tool_calls');
    assert.equal(completion.choices[0].message.tool_calls?.[0].id, 'call_abc');
    assert.deepEqual([completion.usage?.prompt_tokens, completion.usage?.completion_tokens], [11, 7]);
  });

  it('case 9: the tool result round goes back as function_call and function_call_output items', async () => {
    await client.chat.completions.create({
      model: 'openai/gpt-5.6-terra',
      messages: [
        { role: 'user', content: 'ping example.com' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'ping', arguments: '{"host":"example.com"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_abc', content: 'pong' },
      ],
      tools: [ping],
    });
    assert.deepEqual(h.fake.requests.at(-1)!.body.input, [
      { role: 'user', content: 'ping example.com' },
      { type: 'function_call', call_id: 'call_abc', name: 'ping', arguments: '{"host":"example.com"}' },
      { type: 'function_call_output', call_id: 'call_abc', output: 'pong' },
    ]);
  });

  it('case 2 and 3: other models stay on chat completions; CLLAMA_RESPONSES_API_MODELS adds one, recorded chat-shaped, priced once', async () => {
    await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'plain' }] });
    assert.equal(h.fake.requests.at(-1)!.path, '/v1/chat/completions');
    const completion = await client.chat.completions.create(
      { model: 'openai/gpt-4o-adapted', messages: [{ role: 'user', content: 'case three' }] },
      { headers: behaviorHeader({ usage: { input: 1000, output: 500 } }) },
    );
    assert.equal(h.fake.requests.at(-1)!.path, '/v1/responses');
    assert.equal(completion.choices[0].message.content, 'hello from fake upstream');
    const entry = await recorded('case three');
    assert.equal(entry.path, '/v1/chat/completions');
    assert.ok('messages' in (entry.request_effective as object) && !('input' in (entry.request_effective as object)));
    assert.equal((entry.response as { json: { object: string } }).json.object, 'chat.completion');
    assert.deepEqual([entry.usage.prompt_tokens, entry.usage.completion_tokens], [1000, 500]);
    assert.deepEqual(entry.interventions, ['responses_api_adapter', 'responses_reasoning_effort_defaulted:medium']);
  });

  it('case 17: a built-in model is priced from the table (terra 1000/500: $0.008), and the audit log says adapter', async () => {
    await client.chat.completions.create(
      { model: 'openai/gpt-5.6-terra', messages: [{ role: 'user', content: 'case seventeen' }] },
      { headers: behaviorHeader({ usage: { input: 1000, output: 500, cacheRead: 0, reasoning: 3 } }) },
    );
    const entry = await recorded('case seventeen');
    assert.deepEqual([entry.usage.cost_micros, entry.usage.reported_cost_usd, entry.usage.reasoning_tokens], [8000, 0.008, 3]);
    const requestId = String(entry.request_id);
    await waitFor(() => h.events.some((e) => e.type === 'response' && e.request_id === requestId), 'response event');
    const names = h.events.filter((e) => e.type === 'intervention' && e.request_id === requestId).map((e) => e.intervention);
    assert.deepEqual(names, ['responses_api_adapter', 'responses_reasoning_effort_defaulted:medium']);
    assert.equal(h.events.filter((e) => e.type === 'response' && e.request_id === requestId).length, 1, 'one response event: metered once');
  });

  it('case 5: a streaming agent gets a synthetic stream (usage chunk only when it asked), the upstream call is whole', async () => {
    const stream = await client.chat.completions.create(
      { model: 'openai/gpt-5.6-terra', messages: [{ role: 'user', content: 'case five' }], stream: true, stream_options: { include_usage: true } },
      { headers: behaviorHeader({ content: 'streamed hello', usage: { input: 4, output: 2 } }) },
    );
    const deltas: unknown[] = [];
    let usage: unknown = null;
    for await (const chunk of stream) {
      if (chunk.choices[0]) deltas.push(chunk.choices[0].delta);
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal('stream' in h.fake.requests.at(-1)!.body, false);
    assert.deepEqual(deltas, [{ role: 'assistant' }, { content: 'streamed hello' }, {}]);
    assert.deepEqual(usage, {
      prompt_tokens: 4,
      completion_tokens: 2,
      total_tokens: 6,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    const entry = await recorded('case five');
    assert.deepEqual(
      [entry.stream, (entry.response as { format: string }).format, entry.usage.completion_tokens, entry.usage.estimated],
      [true, 'sse', 2, undefined],
    );
  });

  it('case 6 and 7: n: 2 or stop is refused 400 before anything is reserved or sent', async () => {
    const budgeted = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('b'), maxRetries: 0 });
    const calls = h.fake.requests.length;
    for (const [extra, message] of [
      [{ n: 2 }, 'n must be 1 for models routed through the Responses API'],
      [{ stop: 'END' }, 'stop is not supported for models routed through the Responses API'],
    ] as const) {
      await assert.rejects(
        budgeted.chat.completions.create({ model: 'openai/gpt-5.6-terra', messages: [{ role: 'user', content: 'x' }], ...extra }),
        (error: unknown) => {
          assert.ok(error instanceof OpenAI.BadRequestError);
          assert.equal((error.error as { message: string }).message, message);
          return true;
        },
      );
    }
    assert.equal(h.fake.requests.length, calls);
    assert.equal(h.events.filter((e) => e.type === 'budget_decision' && e.claw_id === 'b').length, 0, 'nothing was admitted');
  });

  it('case 11: tool_choice "required" is relaxed to "auto" with the knob on', async () => {
    await client.chat.completions.create({
      model: 'openai/gpt-5.6-terra',
      messages: [{ role: 'user', content: 'case eleven' }],
      tools: [ping],
      tool_choice: 'required',
    });
    assert.equal(h.fake.requests.at(-1)!.body.tool_choice, 'auto');
    const entry = await recorded('case eleven');
    assert.deepEqual(entry.interventions, ['responses_api_adapter', 'responses_required_tool_choice_relaxed', 'responses_reasoning_effort_defaulted:medium']);
  });

  it('case 18: cached input and reasoning tokens reach the agent under chat names and the audit event', async () => {
    const completion = await client.chat.completions.create(
      { model: 'openai/gpt-5.6-terra', messages: [{ role: 'user', content: 'case eighteen' }] },
      { headers: behaviorHeader({ usage: { input: 8, cacheRead: 2, output: 5, reasoning: 3 } }) },
    );
    assert.equal(completion.usage?.prompt_tokens_details?.cached_tokens, 2);
    assert.equal(completion.usage?.completion_tokens_details?.reasoning_tokens, 3);
    const entry = await recorded('case eighteen');
    await waitFor(() => h.events.some((e) => e.type === 'response' && e.request_id === entry.request_id), 'response event');
    const event = h.events.find((e) => e.type === 'response' && e.request_id === entry.request_id)!;
    assert.deepEqual([event.tokens_in, event.cached_tokens, event.tokens_out, event.reasoning_tokens], [8, 2, 5, 3]);
  });

  it('case 12: a failed response is a 502, never a success; streamed, no [DONE]; what it reported is charged', async () => {
    await assert.rejects(
      client.chat.completions.create(
        { model: 'openai/gpt-5.6-terra', messages: [{ role: 'user', content: 'case twelve' }] },
        { headers: behaviorHeader({ responseStatus: 'failed', usage: { input: 9, output: 0 } }) },
      ),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError && error.status === 502);
        assert.match(
          (error.error as { message: string }).message,
          /failed to translate responses API reply: responses API returned status "failed": generation failed/,
        );
        return true;
      },
    );
    const entry = await recorded('case twelve');
    assert.deepEqual([entry.usage.prompt_tokens, entry.outcome], [9, 'upstream_cut']);
    const raw = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json', 'x-fake-behavior': JSON.stringify({ responseStatus: 'failed' }) },
      body: JSON.stringify({ model: 'openai/gpt-5.6-terra', stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    const text = await raw.text();
    assert.equal(raw.status, 502);
    assert.ok(!text.includes('[DONE]'));
  });
});

describe("the Responses adapter's deadline", () => {
  it('case 16: one deadline over the whole call: the dispatch one, or the first-byte one when the agent streams', async () => {
    const h = await startHarness({
      env: { CLLAMA_DISPATCH_CANDIDATE_TIMEOUT_MS: '150', CLLAMA_STREAM_FIRST_BYTE_TIMEOUT_MS: '5000' },
      upstream: { delayMs: 400, content: 'late but fine' },
    });
    try {
      const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
      await assert.rejects(
        client.chat.completions.create({ model: 'openai/gpt-5.6-terra', messages: [{ role: 'user', content: 'slow' }] }),
        (error: unknown) => error instanceof OpenAI.APIError && error.status === 504,
      );
      const stream = await client.chat.completions.create({ model: 'openai/gpt-5.6-terra', messages: [{ role: 'user', content: 'slow' }], stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      assert.equal(text, 'late but fine');
    } finally {
      await h.close();
    }
  });
});

describe('the Responses adapter switched off', () => {
  it('case 4: with CLLAMA_RESPONSES_API_DISABLED a built-in model stays on chat completions', async () => {
    const h = await startHarness({ env: { CLLAMA_RESPONSES_API_DISABLED: 'yes' } });
    try {
      const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
      await client.chat.completions.create({ model: 'openai/gpt-5.6-terra', messages: [{ role: 'user', content: 'off' }] });
      assert.equal(h.fake.requests.at(-1)!.path, '/v1/chat/completions');
    } finally {
      await h.close();
    }
  });
});
