// Parity with cllama's behaviours 1-34 and 48 (cllama-spec.md §12): identity, routing, relaying and metering, one `it` per item, through the SDKs or raw HTTP.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, PROVIDER_KEYS, type Harness } from '../helpers/harness.ts';

const CHAT = '/v1/chat/completions';
const MESSAGES = '/v1/messages';
const chatBody = (extra: Record<string, unknown> = {}) => ({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...extra });
const messagesBody = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-sonnet-4-20250514',
  max_tokens: 60,
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});
const behavior = (value: unknown) => ({ 'x-fake-behavior': JSON.stringify(value) });

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: any;
}

/** One raw call: `body` as JSON (a string is sent as it is), `headers` as given (no auth unless given). */
async function call(h: Harness, input: { path: string; headers?: Record<string, string>; body?: unknown }): Promise<Answer> {
  const body = typeof input.body === 'string' ? input.body : JSON.stringify(input.body ?? (input.path === MESSAGES ? messagesBody() : chatBody()));
  const response = await fetch(`${h.url}${input.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...input.headers }, body });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // an SSE body
  }
  return { status: response.status, headers: response.headers, text, json };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The /costs/api row of one agent's model, once it is there (polled: the totals follow the call's event). */
async function costRow(h: Harness, agent: string, model: string): Promise<Record<string, unknown>> {
  for (let attempt = 0; attempt < 300; attempt++) {
    // at least 15 s
    const body = (await (await fetch(`${h.tollgate.uiUrl}/costs/api`)).json()) as { agents: Record<string, { models: Record<string, unknown>[] }> };
    const row = body.agents[agent]?.models.find((candidate) => candidate.model === model);
    if (row) return row;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`no /costs/api row for ${agent} ${model}`);
}

describe('cllama parity 1-33, 48: identity, routing, relaying, metering', () => {
  let h: Harness;
  const metered = ['c27', 'c28', 'c29', 'c30', 'c31', 'c32', 'c33', 's23'];
  before(async () => {
    h = await startHarness({
      agents: { a: { token: 'a:s' }, 'bot-a': { token: 'bot-a:secret:with:colons' }, ...Object.fromEntries(metered.map((id) => [id, { token: `${id}:s` }])) },
      env: { CLLAMA_STREAM_FIRST_BYTE_TIMEOUT_MS: '1000', CLLAMA_STREAM_IDLE_TIMEOUT_MS: '1000' },
    });
  });
  after(() => h.close());
  const openai = (token = 'a:s', headers: Record<string, string> = {}) =>
    new OpenAI({ baseURL: `${h.url}/v1`, apiKey: token, maxRetries: 0, defaultHeaders: headers });
  const anthropic = (token = 'a:s', headers: Record<string, string> = {}) =>
    new Anthropic({ baseURL: h.url, apiKey: token, maxRetries: 0, defaultHeaders: headers });

  it('1 no Authorization and no x-api-key: 401 "invalid bearer token", upstream not called', async () => {
    const calls = h.fake.requests.length;
    const answer = await call(h, { path: CHAT });
    assert.equal(answer.status, 401);
    assert.equal(answer.json.error.message, 'invalid bearer token');
    assert.equal(h.fake.requests.length, calls);
  });

  it('2 Basic scheme or a token without a colon: 401 "invalid bearer token"', async () => {
    for (const authorization of ['Basic a:s', 'Bearer nocolon']) {
      // a malformed Authorization does not fall back to a good x-api-key: only a blank one does
      const answer = await call(h, { path: CHAT, headers: { authorization, 'x-api-key': 'a:s' } });
      assert.equal(answer.status, 401, authorization);
      assert.equal(answer.json.error.message, 'invalid bearer token', authorization);
    }
  });

  it('3 a wrong secret: "invalid agent secret" (401, deliberately: cllama answers 403, docs/errors.md)', async () => {
    await assert.rejects(openai('a:wrong').chat.completions.create(chatBody() as never), (error: unknown) => {
      assert.ok(error instanceof OpenAI.AuthenticationError);
      assert.equal((error.error as { message: string }).message, 'invalid agent secret');
      return true;
    });
  });

  it('4 an agent with no context dir on /v1/messages: "agent context not found" (401 in the Anthropic envelope, deliberately)', async () => {
    await assert.rejects(anthropic('zz:x').messages.create(messagesBody() as never), (error: unknown) => {
      assert.ok(error instanceof Anthropic.AuthenticationError);
      const body = error.error as { type: string; error: { message: string } };
      assert.equal(body.type, 'error');
      assert.equal(body.error.message, 'agent context not found');
      return true;
    });
  });

  it('5 a secret holding colons, stored as bot-a:secret:with:colons: 200', async () => {
    const completion = (await openai('bot-a:secret:with:colons').chat.completions.create(chatBody() as never)) as OpenAI.ChatCompletion;
    assert.equal(completion.choices.length, 1);
  });

  it('6 only x-api-key on /v1/messages (the Anthropic SDK default): 200, upstream gets the real X-Api-Key and no Authorization', async () => {
    await anthropic().messages.create(messagesBody() as never);
    const seen = h.fake.requests.at(-1)!;
    assert.equal(seen.headers['x-api-key'], PROVIDER_KEYS.anthropic);
    assert.equal(seen.headers.authorization, undefined);
  });

  it('7 openai/gpt-4o: upstream gets Bearer <real key>, model gpt-4o, and neither cllama-internal header', async () => {
    await openai('a:s', { 'x-claw-consumer-session-epoch': '7', 'x-cllama-policy-origin': 'agent' }).chat.completions.create(chatBody() as never);
    const seen = h.fake.requests.at(-1)!;
    assert.equal(seen.headers.authorization, `Bearer ${PROVIDER_KEYS.openai}`);
    assert.equal(seen.body.model, 'gpt-4o');
    assert.equal(seen.headers['x-claw-consumer-session-epoch'], undefined);
    assert.equal(seen.headers['x-cllama-policy-origin'], undefined);
  });

  it('8 /v1/messages: Anthropic-Version and Anthropic-Beta forwarded, X-Api-Key, no Authorization, model unchanged, path /v1/messages', async () => {
    const answer = await call(h, {
      path: MESSAGES,
      headers: { ...bearer('a:s'), 'anthropic-version': '2023-06-01', 'anthropic-beta': 'prompt-caching-2024-07-31' },
    });
    assert.equal(answer.status, 200);
    const seen = h.fake.requests.at(-1)!;
    assert.equal(seen.path, '/v1/messages');
    assert.equal(seen.headers['anthropic-version'], '2023-06-01');
    assert.equal(seen.headers['anthropic-beta'], 'prompt-caching-2024-07-31');
    assert.equal(seen.headers['x-api-key'], PROVIDER_KEYS.anthropic);
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.body.model, 'claude-sonnet-4-20250514');
  });

  it('9 /v1/messages with anthropic/claude-sonnet-4-20250514: the prefix is stripped upstream', async () => {
    await anthropic().messages.create(messagesBody({ model: 'anthropic/claude-sonnet-4-20250514' }) as never);
    assert.equal(h.fake.requests.at(-1)!.body.model, 'claude-sonnet-4-20250514');
  });

  it('12 a bare model: 400 "model must be provider-prefixed: ..." (cllama 502, deliberately 400); no model: 400 "missing model"', async () => {
    const bare = await call(h, { path: CHAT, headers: bearer('a:s'), body: chatBody({ model: 'gpt-4o' }) });
    assert.equal(bare.status, 400);
    assert.ok(bare.json.error.message.startsWith('model must be provider-prefixed: <provider>/<model>'), bare.text);
    const missing = await call(h, { path: CHAT, headers: bearer('a:s'), body: { messages: [] } });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.message, 'missing model');
  });

  it('13 a malformed JSON body: 400 "invalid JSON body"', async () => {
    const answer = await call(h, { path: CHAT, headers: bearer('a:s'), body: '{"model": ' });
    assert.equal(answer.status, 400);
    assert.ok(answer.json.error.message.startsWith('invalid JSON body'), answer.text);
  });

  it('17 upstream 500 {"error":{"message":"upstream exploded"}}: 500 with that body', async () => {
    const body = { error: { message: 'upstream exploded' } };
    const answer = await call(h, { path: CHAT, headers: { ...bearer('a:s'), ...behavior({ status: 500, errorBody: body }) } });
    assert.equal(answer.status, 500);
    assert.deepEqual(answer.json, body);
  });

  it('18 upstream 400: passed through as it is (the declared fallback is model policy, out of scope)', async () => {
    const calls = h.fake.requests.length;
    const body = { error: { message: 'bad request upstream', type: 'invalid_request_error' } };
    const answer = await call(h, { path: CHAT, headers: { ...bearer('a:s'), ...behavior({ status: 400, errorBody: body }) } });
    assert.equal(answer.status, 400);
    assert.deepEqual(answer.json, body);
    assert.equal(h.fake.requests.length, calls + 1);
  });

  it('23 a stream without stream_options: upstream gets include_usage, /costs/api counts 120/30 (the client is spared the usage chunk, deliberately)', async () => {
    const calls = h.fake.requests.length;
    const stream = (await openai('s23:s', behavior({ usage: { input: 120, output: 30 } })).chat.completions.create(
      chatBody({ stream: true }) as never,
    )) as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>;
    for await (const chunk of stream) assert.equal(chunk.usage ?? null, null);
    assert.deepEqual(h.fake.requests[calls].body.stream_options, { include_usage: true });
    const row = await costRow(h, 's23', 'gpt-4o');
    assert.equal(row.input_tokens, 120);
    assert.equal(row.output_tokens, 30);
  });

  it('24 a stream whose upstream sends headers but no byte within the first-byte timeout: 504 "upstream stream timed out before first byte"; broken off before a byte: 502 (no fallback: model policy is out of scope)', async () => {
    const answer = await call(h, { path: CHAT, headers: { ...bearer('a:s'), ...behavior({ stall: true }) }, body: chatBody({ stream: true }) });
    assert.equal(answer.status, 504);
    assert.equal(answer.json.error.message, 'upstream stream timed out before first byte');
    const messages = await call(h, { path: MESSAGES, headers: { 'x-api-key': 'a:s', ...behavior({ stall: true }) }, body: messagesBody({ stream: true }) });
    assert.equal(messages.status, 504, 'on /v1/messages too, in its envelope');
    assert.equal(messages.json.type, 'error');
    assert.equal(messages.json.error.message, 'upstream stream timed out before first byte');
    const broken = await call(h, { path: CHAT, headers: { ...bearer('a:s'), ...behavior({ cutAfterChunks: 0 }) }, body: chatBody({ stream: true }) });
    assert.equal(broken.status, 502, 'headers, then the connection dropped before any byte (cllama §4)');
    assert.equal(broken.json.error.message, 'upstream stream failed before sending data');
  });

  it('25 a stream that stalls after a chunk: 200 with the chunk, then event: error "upstream stream idle timeout"; upstream called once', async () => {
    const calls = h.fake.requests.length;
    const answer = await call(h, { path: CHAT, headers: { ...bearer('a:s'), ...behavior({ stallAfterChunks: 2 }) }, body: chatBody({ stream: true }) });
    assert.equal(answer.status, 200);
    assert.match(answer.text, /"content":"tok0 "/);
    assert.match(answer.text, /event: error\ndata: \{"error":\{"message":"upstream stream idle timeout"/);
    assert.equal(h.fake.requests.length, calls + 1);
  });

  it('26 a stream with chunks far apart but within the idle timeout runs to data: [DONE], lasting longer than the timeout', async () => {
    const answer = await call(h, { path: CHAT, headers: { ...bearer('a:s'), ...behavior({ chunks: 60, chunkGapMs: 25 }) }, body: chatBody({ stream: true }) });
    assert.equal(answer.status, 200);
    assert.match(answer.text, /data: \[DONE\]\n\n$/);
    assert.ok(!answer.text.includes('event: error'));
  });

  it('27 openrouter anthropic/claude-sonnet-4 with usage 100/50: /costs/api input 100, output 50, cost 0.00105', async () => {
    await openai('c27:s', behavior({ usage: { input: 100, output: 50 } })).chat.completions.create(
      chatBody({ model: 'openrouter/anthropic/claude-sonnet-4' }) as never,
    );
    const row = await costRow(h, 'c27', 'anthropic/claude-sonnet-4');
    assert.deepEqual([row.provider, row.input_tokens, row.output_tokens, row.cost_usd], ['openrouter', 100, 50, 0.00105]);
  });

  it('28 openai gpt-4o streamed with usage 200/80: tokens 200/80, cost 0.0013', async () => {
    const stream = (await openai('c28:s', behavior({ usage: { input: 200, output: 80 } })).chat.completions.create(
      chatBody({ stream: true, stream_options: { include_usage: true } }) as never,
    )) as unknown as AsyncIterable<unknown>;
    for await (const _ of stream) void _;
    const row = await costRow(h, 'c28', 'gpt-4o');
    assert.deepEqual([row.input_tokens, row.output_tokens, row.cost_usd], [200, 80, 0.0013]);
  });

  it('29 Anthropic JSON usage 180/60 for claude-sonnet-4-20250514: priced_requests 1, cost 0.00144', async () => {
    await anthropic('c29:s', behavior({ usage: { input: 180, output: 60 } })).messages.create(messagesBody() as never);
    const row = await costRow(h, 'c29', 'claude-sonnet-4-20250514');
    assert.deepEqual([row.priced_requests, row.cost_usd], [1, 0.00144]);
  });

  it('30 Anthropic SSE, input 140 in message_start and output 45 in message_delta: tokens 140/45, cost 0.001095', async () => {
    await anthropic('c30:s', behavior({ usage: { input: 140, output: 45 } }))
      .messages.stream(messagesBody() as never)
      .finalMessage();
    const row = await costRow(h, 'c30', 'claude-sonnet-4-20250514');
    assert.deepEqual([row.input_tokens, row.output_tokens, row.cost_usd], [140, 45, 0.001095]);
  });

  it('31 a gzip-encoded upstream answer with usage 90/20: the agent reads it decoded, tokens 90/20 recorded', async () => {
    const completion = (await openai('c31:s', behavior({ gzip: true, usage: { input: 90, output: 20 } })).chat.completions.create(
      chatBody() as never,
    )) as OpenAI.ChatCompletion;
    assert.equal(completion.choices[0].message.content, 'hello from fake upstream');
    const row = await costRow(h, 'c31', 'gpt-4o');
    assert.deepEqual([row.input_tokens, row.output_tokens], [90, 20]);
  });

  it('32 openrouter google/nonexistent-model reporting usage.cost 0.1234: cost_usd 0.1234, priced_requests 1', async () => {
    await openai('c32:s', behavior({ usage: { input: 10, output: 10, cost: 0.1234 } })).chat.completions.create(
      chatBody({ model: 'openrouter/google/nonexistent-model' }) as never,
    );
    const row = await costRow(h, 'c32', 'google/nonexistent-model');
    assert.deepEqual([row.cost_usd, row.priced_requests], [0.1234, 1]);
  });

  it('33 openai/nonexistent-model with usage 240/90: cost 0, unpriced, and a response event with tokens_in 240 but no cost_usd', async () => {
    await openai('c33:s', behavior({ usage: { input: 240, output: 90 } })).chat.completions.create(chatBody({ model: 'openai/nonexistent-model' }) as never);
    const row = await costRow(h, 'c33', 'nonexistent-model');
    assert.deepEqual([row.cost_usd, row.unpriced_requests, row.pricing_status], [0, 1, 'unpriced']);
    const response = h.events.find((event) => event.type === 'response' && event.claw_id === 'c33')!;
    assert.equal(response.tokens_in, 240);
    assert.ok(!('cost_usd' in response));
  });

  it('48 GET /health: 200 {"ok":true,...}', async () => {
    const response = await fetch(`${h.url}/health`);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { ok: boolean }).ok, true);
  });
});

describe('cllama parity 10, 11, 34: routing without a provider, costs before traffic', () => {
  let h: Harness;
  after(() => h?.close());

  it('34 no traffic: /costs/api is {"total_cost_usd":0,"total_requests":0,"unpriced_requests":0,"agents":{}}', async () => {
    h = await startHarness({ agents: { a: { token: 'a:s' } }, providers: ['openrouter'] });
    const response = await fetch(`${h.tollgate.uiUrl}/costs/api`);
    assert.deepEqual(await response.json(), { total_cost_usd: 0, total_requests: 0, unpriced_requests: 0, agents: {} });
  });

  it('10 only openrouter configured, anthropic/claude-sonnet-4 on the chat route: openrouter gets that model with its key', async () => {
    await call(h, { path: CHAT, headers: bearer('a:s'), body: chatBody({ model: 'anthropic/claude-sonnet-4' }) });
    const seen = h.fake.requests.at(-1)!;
    assert.equal(seen.body.model, 'anthropic/claude-sonnet-4');
    assert.equal(seen.headers.authorization, `Bearer ${PROVIDER_KEYS.openrouter}`);
  });

  it('11 no openrouter, unknown-provider/model: refused with unknown provider "unknown-provider" (400, deliberately; cllama 502)', async () => {
    const other = await startHarness({ agents: { a: { token: 'a:s' } }, providers: ['openai'] });
    try {
      const answer = await call(other, { path: CHAT, headers: bearer('a:s'), body: chatBody({ model: 'unknown-provider/model' }) });
      assert.equal(answer.status, 400);
      assert.equal(answer.json.error.message, 'unknown provider "unknown-provider"');
      assert.equal(other.fake.requests.length, 0);
    } finally {
      await other.close();
    }
  });
});
