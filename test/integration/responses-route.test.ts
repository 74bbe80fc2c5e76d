// POST /v1/responses end to end with the openai SDK's responses.create / responses.stream: relayed, metered, priced, recorded, refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Behavior } from '../helpers/fake-upstream.ts';
import { startHarness, PROVIDER_KEYS, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

const behaviorHeader = (behavior: Behavior) => ({ 'x-fake-behavior': JSON.stringify(behavior) });

describe('the Responses API through the proxy', () => {
  let h: Harness;
  let client: OpenAI;
  // b has a budget (so a cap is reserved and set when the client sends none); c a hard stop that admits one call
  before(async () => {
    h = await startHarness({
      agents: { a: {}, b: { budget: { limit_usd: 10, window: '1h' } }, c: { budget: { limit_usd: 0.0015, window: '1h', behavior: 'hard_stop' } } },
    });
    client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
  });
  after(() => h.close());

  const entryWith = async (agent: string, marker: string) => {
    await waitFor(() => h.historyLines(agent).some((line) => JSON.stringify(line.request_original).includes(marker)));
    return h.historyLines(agent).find((line) => JSON.stringify(line.request_original).includes(marker)) as Record<string, unknown> & {
      usage: Record<string, number>;
    };
  };

  it('relays a JSON response with the key swapped, and charges its usage: cached input and reasoning tokens priced', async () => {
    const usage = { input: 10, cacheRead: 40, output: 20, reasoning: 5 };
    const response = await client.responses.create(
      { model: 'openai/gpt-4o', input: 'json marker', max_output_tokens: 50, previous_response_id: 'resp_prev', store: true, background: false },
      { headers: behaviorHeader({ usage }) },
    );
    assert.equal(response.output_text, 'hello from fake upstream');
    assert.deepEqual(
      [response.usage?.input_tokens, response.usage?.input_tokens_details.cached_tokens, response.usage?.output_tokens_details.reasoning_tokens],
      [50, 40, 5],
    );
    const seen = h.fake.requests.at(-1)!;
    assert.equal(seen.path, '/v1/responses');
    assert.equal(seen.headers.authorization, `Bearer ${PROVIDER_KEYS.openai}`);
    assert.deepEqual([seen.body.model, seen.body.previous_response_id, seen.body.store, seen.body.background], ['gpt-4o', 'resp_prev', true, false]);
    const entry = await entryWith('a', 'json marker');
    assert.equal(entry.path, '/v1/responses');
    // gpt-4o: 10 × $2.50/M + 40 cached × $1.25/M + 20 × $10/M = 25 + 50 + 200 micro-dollars
    assert.deepEqual(entry.usage, {
      prompt_tokens: 50,
      completion_tokens: 20,
      reported_cost_usd: 0.000275,
      cache_read_tokens: 40,
      reasoning_tokens: 5,
      cost_micros: 275,
      cost_source: 'price_table',
    });
    await waitFor(() => h.events.some((e) => e.type === 'response' && e.request_id === entry.request_id), 'response event');
    const event = h.events.find((e) => e.type === 'response' && e.request_id === entry.request_id)!;
    assert.deepEqual([event.tokens_in, event.cached_tokens, event.tokens_out, event.reasoning_tokens, event.cost_micros], [10, 40, 20, 5, 275]);
  });

  it('streams the response.* events as they come and charges the usage of response.completed', async () => {
    const stream = client.responses.stream(
      { model: 'openai/gpt-4o', input: 'stream marker', max_output_tokens: 30 },
      { headers: behaviorHeader({ chunks: 4 }) },
    );
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    const final = await stream.finalResponse();
    assert.equal(text, 'tok0 tok1 tok2 tok3 ');
    assert.equal(final.usage?.output_tokens, 30);
    assert.deepEqual([types[0], types.at(-1)], ['response.created', 'response.completed']);
    const entry = await entryWith('a', 'stream marker');
    assert.equal(entry.stream, true);
    assert.equal(entry.outcome, 'complete');
    assert.deepEqual([entry.usage.prompt_tokens, entry.usage.completion_tokens, entry.usage.estimated], [10, 30, undefined]);
    assert.match(String((entry.response as { text: string }).text), /event: response\.completed/);
  });

  it('charges a stream cut before response.completed what it relayed, flagged estimated, and tells the client', async () => {
    const text = 'x'.repeat(300);
    const stream = client.responses.stream(
      { model: 'openai/gpt-4o', input: 'cut marker', max_output_tokens: 400 },
      { headers: behaviorHeader({ chunks: 6, chunkText: text, cutAfterChunks: 7, usage: { input: 10, output: 390 } }) },
    );
    await assert.rejects(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    );
    const entry = await entryWith('a', 'cut marker');
    assert.equal(entry.outcome, 'upstream_cut');
    assert.equal(entry.usage.estimated, true);
    // three of the six 300-byte deltas went out before the cut (created, in_progress, item, part, 3 deltas): ≥ 300 tokens at 3 bytes
    assert.ok(entry.usage.completion_tokens >= 300 && entry.usage.completion_tokens <= 400, String(entry.usage.completion_tokens));
  });

  it('sets the reserved cap as max_output_tokens when the client sends none, and refuses a cap that is no whole number', async () => {
    const budgeted = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('b'), maxRetries: 0 });
    await budgeted.responses.create({ model: 'openai/gpt-4o', input: 'uncapped marker' });
    assert.equal(typeof h.fake.requests.at(-1)!.body.max_output_tokens, 'number');
    const calls = h.fake.requests.length;
    for (const bad of ['300', 0, 1.5, -4]) {
      await assert.rejects(budgeted.responses.create({ model: 'openai/gpt-4o', input: 'bad cap', max_output_tokens: bad as number }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(bad));
        assert.deepEqual([(error.error as { code: string }).code, (error.error as { param: string }).param], ['invalid_parameter', 'max_output_tokens']);
        return true;
      });
    }
    assert.equal(h.fake.requests.length, calls, 'refused before any upstream call');
  });

  it('charges a background response, queued without usage, its input estimate and the whole cap it was sent', async () => {
    const budgeted = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('b'), maxRetries: 0 });
    const queued = await budgeted.responses.create(
      { model: 'openai/gpt-4o', input: 'background marker', background: true, max_output_tokens: 700 },
      { headers: behaviorHeader({ responseStatus: 'queued', usage: null }) },
    );
    assert.equal(queued.status, 'queued');
    assert.equal(h.fake.requests.at(-1)!.body.background, true);
    const entry = await entryWith('b', 'background marker');
    assert.deepEqual([entry.usage.completion_tokens, entry.usage.estimated], [700, true]);
    assert.ok(entry.usage.prompt_tokens > 0);
  });

  it('a hard stop is a 429 in the OpenAI envelope with the budget object, x-should-retry false, one HTTP call', async () => {
    let httpCalls = 0;
    const capped = new OpenAI({
      baseURL: `${h.url}/v1`,
      apiKey: h.token('c'),
      maxRetries: 2,
      fetch: async (url, init) => {
        httpCalls++;
        return fetch(url, init);
      },
    });
    await capped.responses.create({ model: 'openai/gpt-4o', input: 'first', max_output_tokens: 100 });
    const calls = h.fake.requests.length;
    httpCalls = 0;
    await assert.rejects(capped.responses.create({ model: 'openai/gpt-4o', input: 'second', max_output_tokens: 100 }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.RateLimitError);
      assert.equal((error.error as { code: string }).code, 'budget_exceeded');
      assert.equal(error.headers?.get('x-should-retry'), 'false');
      return true;
    });
    assert.equal(httpCalls, 1);
    const raw = await fetch(`${h.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token('c')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o', input: 'third', max_output_tokens: 100 }),
    });
    const body = (await raw.json()) as { error: { type: string }; budget: Record<string, unknown> };
    assert.deepEqual([raw.status, body.error.type, body.budget.behavior, body.budget.limit_usd], [429, 'budget_exceeded', 'hard_stop', 0.0015]);
    assert.equal(h.fake.requests.length, calls, 'the refused calls never went upstream');
  });
});
