// Failover as an agent meets it: 5xx, refused connections, first-byte stalls, streams dying before their first byte; never on
// a 4xx; a fallback that does not fit the budget is never sent.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';
import type { Behavior } from '../helpers/fake-upstream.ts';

const POLICY = {
  allowed: [
    { slot: 'primary', ref: 'openai/gpt-4o-mini' },
    { slot: 'fallback', ref: 'openai/gpt-4o' },
  ],
};

/** A loopback port nothing listens on (connection refused). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('failover through the SDKs', () => {
  let h: Harness | undefined;
  const open = async (options: HarnessOptions) => (h = await startHarness(options));
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  after(async () => h?.close());

  const client = (harness: Harness, agent = 'a') => new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token(agent), maxRetries: 0 });
  const ask = (harness: Harness, extra: Record<string, unknown> = {}) =>
    client(harness)
      .chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, ...extra } as never)
      .withResponse();
  const failing = (behavior: Behavior): HarnessOptions => ({ agents: { a: { modelPolicy: POLICY } }, upstream: { models: { 'gpt-4o-mini': behavior } } });
  const events = (harness: Harness, type: string) => harness.events.filter((event) => event.type === type);

  it("a 500 moves to the fallback: body rebuilt with only the model changed, cllama's failover event and interventions", async () => {
    const harness = await open(failing({ status: 500 }));
    const { data, response } = await ask(harness, { temperature: 0.2 });
    assert.equal(data.model, 'gpt-4o');
    assert.equal(response.headers.get('x-tollgate-model'), 'openai/gpt-4o');
    assert.deepEqual(
      harness.fake.requests.map((request) => request.body.model),
      ['gpt-4o-mini', 'gpt-4o'],
    );
    assert.deepEqual({ ...harness.fake.requests[1].body, model: 'x' }, { ...harness.fake.requests[0].body, model: 'x' });
    const [failover] = events(harness, 'failover');
    assert.deepEqual(
      {
        reason: failover.reason,
        from_provider: failover.from_provider,
        from_model: failover.from_model,
        to_provider: failover.to_provider,
        to_model: failover.to_model,
        slot_index: failover.slot_index,
        model: failover.model,
        claw_id: failover.claw_id,
      },
      {
        reason: 'http_500',
        from_provider: 'openai',
        from_model: 'gpt-4o-mini',
        to_provider: 'openai',
        to_model: 'gpt-4o',
        slot_index: 1,
        model: 'openai/gpt-4o-mini',
        claw_id: 'a',
      },
    );
    const names = harness.events.filter((event) => event.type === 'intervention' || event.type === 'failover').map((event) => event.intervention ?? event.type);
    assert.deepEqual(names, ['provider_candidate_fallback:http_500', 'failover', 'provider_exhausted_failover']);
    const [entry] = harness.historyLines('a');
    const attempts = (entry.routing as { attempts: Record<string, unknown>[] }).attempts;
    assert.deepEqual(
      attempts.map((attempt) => [attempt.model, attempt.status_code, attempt.charged_usd]),
      [
        ['gpt-4o-mini', 500, 0],
        ['gpt-4o', 200, attempts[1].charged_usd],
      ],
    );
  });

  it("the last candidate's 5xx is passed through verbatim; a 400 is never failed over", async () => {
    const harness = await open({ agents: { a: { modelPolicy: POLICY } }, upstream: { models: { 'gpt-4o-mini': { status: 400 }, 'gpt-4o': { status: 503 } } } });
    await assert.rejects(ask(harness), (error: unknown) => error instanceof OpenAI.BadRequestError);
    assert.equal(harness.fake.requests.length, 1, 'no failover on a 4xx');
    await assert.rejects(
      ask(harness, { model: 'openai/gpt-4o' }),
      (error: unknown) => error instanceof OpenAI.APIError && error.status === 503 && /fake upstream error 503/.test(error.message),
    );
    assert.equal(events(harness, 'failover').length, 0);
  });

  it('a refused connection moves on (transport_error)', async () => {
    const port = await closedPort();
    const harness = await open({
      agents: {
        a: {
          modelPolicy: {
            allowed: [
              { slot: 'primary', ref: 'xai/grok-3' },
              { slot: 'fallback', ref: 'openai/gpt-4o' },
            ],
          },
        },
      },
      providers: ['openai', 'anthropic', 'openrouter', 'xai'],
      providerFields: { xai: { base_url: `http://127.0.0.1:${port}/v1` } },
    });
    const { data } = await ask(harness, { model: 'xai/grok-3' });
    assert.equal(data.model, 'gpt-4o');
    assert.equal(events(harness, 'failover')[0].reason, 'transport_error');
  });

  it('a stream silent before its first byte, and one dying before it, move on; the client sees one clean stream', async () => {
    for (const [behavior, reason] of [
      [{ stall: true }, 'stream_first_byte_timeout'],
      [{ cutAfterChunks: 0 }, 'stream_read_error'],
    ] as const) {
      const harness = await open({ ...failing(behavior), env: { CLLAMA_STREAM_FIRST_BYTE_TIMEOUT_MS: '300' } });
      const stream = await client(harness).chat.completions.create({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 10,
        stream: true,
      });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      assert.ok(text.length > 0);
      assert.deepEqual(
        harness.fake.requests.map((request) => request.body.model),
        ['gpt-4o-mini', 'gpt-4o'],
      );
      assert.equal(events(harness, 'failover')[0].reason, reason);
      await harness.close();
      h = undefined;
    }
  });

  it('a primary whose only key is cooling (429) moves on: reason provider_cooldown, no candidate-fallback intervention (cllama case 2)', async () => {
    const harness = await open({
      agents: {
        a: {
          modelPolicy: {
            allowed: [
              { slot: 'primary', ref: 'openai/gpt-4o-mini' },
              { slot: 'fallback', ref: 'openrouter/gpt-4o' },
            ],
          },
        },
      },
      upstream: { models: { 'gpt-4o-mini': { status: 429, headers: { 'retry-after': '5' } } } },
    });
    const { data } = await ask(harness);
    assert.equal(data.model, 'gpt-4o');
    const [failover] = events(harness, 'failover');
    assert.equal(failover.reason, 'provider_cooldown');
    assert.equal(failover.to_provider, 'openrouter');
    const names = events(harness, 'intervention').map((event) => event.intervention);
    assert.ok(!names.some((name) => String(name).startsWith('provider_candidate_fallback:')), names.join(', '));
    assert.ok(names.includes('provider_exhausted_failover'));
  });

  it('a fallback that does not fit the budget is never sent: the agent gets the budget refusal, spend stays under the limit', async () => {
    // gpt-4o-mini with 1,000 output tokens reserves ~$0.0006, gpt-4o ~$0.01: a $0.005 limit fits the first only
    const harness = await open({
      agents: { a: { modelPolicy: POLICY, budget: { limit_usd: 0.005, window: '1h' } } },
      upstream: { models: { 'gpt-4o-mini': { status: 500 } } },
    });
    await assert.rejects(ask(harness, { max_tokens: 1000 }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.RateLimitError);
      assert.equal((error.error as { code: string }).code, 'budget_exceeded');
      return true;
    });
    assert.deepEqual(
      harness.fake.requests.map((request) => request.body.model),
      ['gpt-4o-mini'],
      'the fallback never reached upstream',
    );
    assert.ok(harness.events.some((event) => event.intervention === 'failover_over_budget'));
    assert.equal(harness.historyLines('a').length, 0, 'nothing consumed, nothing charged');
  });

  it('on the Anthropic route too: the refusal speaks the Anthropic envelope', async () => {
    const harness = await open({
      agents: {
        a: {
          modelPolicy: {
            allowed: [
              { slot: 'primary', ref: 'anthropic/claude-3-5-haiku-latest' },
              { slot: 'fallback', ref: 'anthropic/claude-opus-4-1' },
            ],
          },
          budget: { limit_usd: 0.01, window: '1h' },
        },
      },
      upstream: { models: { 'claude-3-5-haiku-latest': { status: 529 } } },
    });
    const anthropic = new Anthropic({ baseURL: harness.url, apiKey: harness.token('a'), maxRetries: 0 });
    await assert.rejects(
      anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] }),
      (error: unknown) => {
        assert.ok(error instanceof Anthropic.RateLimitError);
        assert.equal((error.error as { type: string }).type, 'error');
        return true;
      },
    );
    assert.deepEqual(
      harness.fake.requests.map((request) => request.body.model),
      ['claude-3-5-haiku-latest'],
    );
  });

  it('a fallback that fits is admitted at its own price after the failed attempt is settled', async () => {
    const harness = await open({
      agents: { a: { modelPolicy: POLICY, budget: { limit_usd: 0.02, window: '1h' } } },
      upstream: { models: { 'gpt-4o-mini': { status: 502 } } },
    });
    const { data } = await ask(harness, { max_tokens: 1000 });
    assert.equal(data.model, 'gpt-4o');
    const decisions = events(harness, 'budget_decision');
    assert.ok(decisions.length >= 2, 'admitted once per candidate');
  });
});
