// Budgets as an agent meets them, through the official SDKs: hard stop, rate limit, soft alert, overrides, fail modes.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

const ask = (client: OpenAI, extra: Record<string, unknown> = {}) =>
  client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100, ...extra } as never);

describe('budget enforcement through the SDKs', () => {
  let h: Harness | undefined;
  const open = async (options: HarnessOptions) => (h = await startHarness(options));
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  after(async () => h?.close());

  it('hard stop on the OpenAI route: 429, budget_exceeded, x-should-retry false, the SDK makes one call', async () => {
    // one call costs 10 × $2.50/M + 100 × $10/M = $0.001025; a $0.0015 limit admits one, then stops
    const harness = await open({ agents: { a: { budget: { limit_usd: 0.0015, window: '1h', behavior: 'hard_stop' } } } });
    let httpCalls = 0;
    const client = new OpenAI({
      baseURL: `${harness.url}/v1`,
      apiKey: harness.token('a'),
      maxRetries: 2,
      fetch: async (url, init) => {
        httpCalls++;
        return fetch(url, init);
      },
    });
    await ask(client);
    httpCalls = 0;
    await assert.rejects(ask(client), (error: unknown) => {
      assert.ok(error instanceof OpenAI.RateLimitError);
      const body = error.error as { code: string; type: string };
      assert.equal(body.code, 'budget_exceeded');
      assert.equal(error.headers?.get('x-should-retry'), 'false');
      return true;
    });
    assert.equal(httpCalls, 1, 'the SDK must not retry a hard stop');
    assert.equal(harness.fake.requests.length, 1, 'upstream called once in total');
  });

  it('hard stop on the Anthropic route speaks the Anthropic envelope with the budget object', async () => {
    const harness = await open({ agents: { a: { budget: { limit_usd: 0.0015, window: '1h' } } } });
    const client = new Anthropic({ baseURL: harness.url, apiKey: harness.token('a'), maxRetries: 2 });
    const create = () => client.messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 60, messages: [{ role: 'user', content: 'hi' }] });
    await create();
    await assert.rejects(create(), (error: unknown) => {
      assert.ok(error instanceof Anthropic.RateLimitError);
      const body = error.error as { type: string; error: { type: string }; budget: Record<string, unknown> };
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'rate_limit_error');
      assert.equal(body.budget.behavior, 'hard_stop');
      assert.equal(body.budget.limit_usd, 0.0015);
      assert.equal(body.budget.window, '1h');
      assert.equal(body.budget.requests, 1);
      return true;
    });
    assert.equal(harness.fake.requests.length, 1);
  });

  it('rate limit: Retry-After is the time until the request fits, not the window', async () => {
    const harness = await open({ agents: { a: { budget: { max_requests: 1, window: '1h', behavior: 'rate_limit' } } } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    await ask(client);
    await assert.rejects(ask(client), (error: unknown) => {
      assert.ok(error instanceof OpenAI.RateLimitError);
      assert.equal((error.error as { code: string }).code, 'rate_limited');
      const retryMs = Number(error.headers?.get('retry-after-ms'));
      const retrySeconds = Number(error.headers?.get('retry-after'));
      assert.ok(retryMs > 3_590_000 && retryMs <= 3_600_000, `retry-after-ms ${retryMs} ≈ one hour minus elapsed`);
      assert.equal(retrySeconds, Math.ceil(retryMs / 1000));
      assert.equal(error.headers?.get('x-should-retry'), 'true');
      return true;
    });
  });

  it('rate limit with a short window: the request fits again once usage leaves the window', async () => {
    const harness = await open({ agents: { a: { budget: { max_requests: 1, window: '1s', behavior: 'rate_limit' } } } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    await ask(client);
    let retryMs = 0;
    await assert.rejects(ask(client), (error: unknown) => {
      retryMs = Number((error as { headers: Headers }).headers.get('retry-after-ms'));
      return true;
    });
    assert.ok(retryMs > 0 && retryMs <= 1000);
    await new Promise((resolve) => setTimeout(resolve, retryMs + 20));
    await ask(client);
  });

  it('soft alert lets the request through and logs the intervention', async () => {
    const harness = await open({ agents: { a: { budget: { limit_usd: 0.0001, window: '1h', behavior: 'soft_alert' } } } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    await ask(client);
    await ask(client);
    assert.equal(harness.fake.requests.length, 2);
    await waitFor(() => harness.events.some((event) => event.type === 'intervention' && event.claw_id === 'a'), 'a soft-alert intervention');
  });

  it('a governance override raises and lowers the cap without a restart, and an expired one stops applying', async () => {
    const harness = await open({ agents: { a: { budget: { limit_usd: 0.0015, window: '1h' } } } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    await ask(client);
    await assert.rejects(ask(client), OpenAI.RateLimitError);
    harness.writeGovernance('a', { limit_usd: 1, reason: 'launch week', set_by: 'ops' });
    await harness.tollgate.policies.reload();
    await ask(client);
    harness.writeGovernance('a', { limit_usd: 1, expires_at: new Date(Date.now() - 1000).toISOString() });
    await harness.tollgate.policies.reload();
    await assert.rejects(ask(client), OpenAI.RateLimitError);
  });

  it('fails open by default on a broken policy file, closed when configured', async () => {
    const openHarness = await open({
      agents: { a: { budget: { limit_usd: 0.0001, window: '1h' } }, b: { budget: { limit_usd: 0.0001, window: '1h' }, contextOverride: '{"max_requests": ' } },
      governance: { a: '{not json' },
    });
    const client = new OpenAI({ baseURL: `${openHarness.url}/v1`, apiKey: openHarness.token('a'), maxRetries: 0 });
    await ask(client);
    await waitFor(() => openHarness.events.some((event) => event.intervention === 'budget_check_unavailable'), 'budget_check_unavailable');
    // a broken context override: the reason names the file once, then what is wrong with it
    await ask(new OpenAI({ baseURL: `${openHarness.url}/v1`, apiKey: openHarness.token('b'), maxRetries: 0 }));
    const reason = () => String(openHarness.events.find((event) => event.claw_id === 'b' && event.intervention === 'budget_check_unavailable')?.reason ?? '');
    await waitFor(() => reason() !== '', 'budget_check_unavailable for b');
    assert.match(reason(), /^[^:]*\/b\/budget-override\.json: not valid JSON/);
    assert.equal(reason().split('budget-override.json').length, 2, `the file is named once: ${reason()}`);
    await openHarness.close();
    h = undefined;

    const closed = await open({
      agents: { a: { budget: { limit_usd: 0.0001, window: '1h' } } },
      governance: { a: '{not json' },
      env: { CLLAMA_BUDGET_FAIL_MODE: 'closed' },
    });
    const closedClient = new OpenAI({ baseURL: `${closed.url}/v1`, apiKey: closed.token('a'), maxRetries: 0 });
    await assert.rejects(ask(closedClient), (error: unknown) => {
      assert.equal((error as { status: number }).status, 503);
      assert.match(String((error as Error).message), /budget enforcement unavailable/);
      return true;
    });
    assert.equal(closed.fake.requests.length, 0);
  });

  it('counts streamed spend', async () => {
    const harness = await open({ agents: { a: { budget: { limit_usd: 0.0015, window: '1h' } } } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    const stream = await ask(client, { stream: true });
    for await (const _chunk of stream as unknown as AsyncIterable<unknown>) {
      /* drain */
    }
    await assert.rejects(ask(client), OpenAI.RateLimitError);
  });

  it('refuses an absurd max_tokens instead of failing open on it', async () => {
    const harness = await open({ agents: { a: { budget: { limit_usd: 10, window: '1h' } } } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    // 1e15 is no output cap any API takes: refused as malformed (400), not held nor read as absent
    await assert.rejects(ask(client, { max_tokens: 1e15 }), (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'invalid_parameter');
    // the largest cap accepted, times 128 choices, is $2.7M of output at $10/Mtok: refused by the budget
    await assert.rejects(
      ask(client, { max_tokens: 2_147_483_647, n: 128 }),
      (error: unknown) => error instanceof OpenAI.RateLimitError && (error.error as { code: string }).code === 'budget_exceeded',
    );
    assert.equal(harness.fake.requests.length, 0);
    assert.ok(!harness.events.some((event) => String(event.error ?? '').includes('ledger')), 'no ledger error on the way');
  });

  it('a non-streamed call cut after the upstream had it settles its reservation to the prompt, not to nothing', async () => {
    const harness = await open({ agents: { a: { budget: { limit_usd: 1, window: '1h' } } }, env: { CLLAMA_DISPATCH_CANDIDATE_TIMEOUT_MS: '300' } });
    const stalling = { 'x-fake-behavior': JSON.stringify({ stall: true }) };
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0, defaultHeaders: stalling });
    await assert.rejects(ask(client), (error: unknown) => error instanceof OpenAI.APIError && error.status === 504);
    const [standing] = await harness.tollgate.ledger.standing([{ id: 'usd', scope: 'agent:a', metric: 'usd_micros', windowMs: 3_600_000, limit: 1_000_000 }]);
    // prompt "hi": 13 estimated tokens × $2.50/Mtok = 32.5, rounded up; the 1,033 held for it is released
    assert.equal(standing.used, 33);
    assert.equal(standing.reserved, 0);
    assert.ok(!harness.events.some((event) => String(event.error ?? '').includes('already settled')), 'settled once, not also released');
  });

  it('charges an estimate, flagged, when the provider reports no usage: such calls are not free', async () => {
    // estimate: input 13 tokens (17 bytes of prompt / 3 + 4 + 3), output 25 (73 bytes of `choices` / 3): 13 × $2.50/M
    // + 25 × $10/M = 283 micro-dollars settled. The next call reserves 1,033 (max_tokens 100): 1,316 > the 1,200 limit.
    const harness = await open({ agents: { a: { budget: { limit_usd: 0.0012, window: '1h' } } } });
    const noUsage = { 'x-fake-behavior': JSON.stringify({ usage: null }) };
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0, defaultHeaders: noUsage });
    const completion = (await ask(client)) as OpenAI.ChatCompletion;
    assert.equal(completion.usage, undefined, 'the upstream reported no usage');
    await assert.rejects(
      ask(client),
      (error: unknown) => error instanceof OpenAI.RateLimitError && (error.error as { code: string }).code === 'budget_exceeded',
    );
    await waitFor(() => harness.historyLines('a').length === 1);
    assert.deepEqual(harness.historyLines('a')[0].usage, {
      prompt_tokens: 13,
      completion_tokens: 25,
      reported_cost_usd: 0.000283,
      cost_micros: 283,
      cost_source: 'price_table',
      estimated: true,
    });
    const response = harness.events.find((event) => event.type === 'response')!;
    assert.equal(response.usage_estimated, true);
    assert.equal(response.cost_micros, 283);
  });

  it('downgrades to a cheaper model instead of blocking when the policy says so, and records both models', async () => {
    const harness = await open({ agents: { a: { budget: { limit_usd: 0.0015, window: '1h', downgrade_to: 'openai/gpt-4o-mini' } } } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    await ask(client);
    const second = await ask(client, { messages: [{ role: 'user', content: 'downgrade me' }] });
    assert.equal(second.choices.length, 1);
    assert.equal(harness.fake.requests.at(-1)!.body.model, 'gpt-4o-mini');
    await waitFor(
      () => harness.historyLines('a').some((line) => JSON.stringify(line.request_original).includes('downgrade me')),
      'history of the downgraded call',
    );
    const entry = harness.historyLines('a').find((line) => JSON.stringify(line.request_original).includes('downgrade me'))!;
    assert.equal(entry.requested_model, 'openai/gpt-4o');
    assert.equal(entry.effective_model, 'gpt-4o-mini');
    await waitFor(() => harness.events.some((event) => event.intervention === 'model_downgraded'), 'model_downgraded intervention');
  });

  it('does not offer a downgrade the route cannot reach: on /v1/messages an openai/ target leaves the plain refusal', async () => {
    // claude-sonnet-4-5 with max_tokens 100 does not fit $0.0015; gpt-4o-mini would, but /v1/messages reaches only Anthropic
    const harness = await open({ agents: { a: { budget: { limit_usd: 0.0015, window: '1h', downgrade_to: 'openai/gpt-4o-mini' } } } });
    const client = new Anthropic({ baseURL: harness.url, apiKey: harness.token('a'), maxRetries: 0 });
    await assert.rejects(
      client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }),
      (error: unknown) => {
        assert.ok(error instanceof Anthropic.RateLimitError, `a budget refusal, not the route's 400: ${String(error)}`);
        assert.equal((error.error as { error: { code: string } }).error.code, 'budget_exceeded');
        return true;
      },
    );
    assert.equal(harness.fake.requests.length, 0);
    assert.ok(!harness.events.some((event) => event.intervention === 'model_downgraded'));
  });

  it('posts a budget alert to the webhook once the threshold is crossed', async () => {
    const received: Record<string, unknown>[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    try {
      const port = (hook.address() as { port: number }).port;
      const harness = await open({
        agents: { a: { budget: { limit_usd: 0.0015, window: '1h', alerts: [0.5] } } },
        env: { TOLLGATE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/alerts` },
      });
      const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
      await ask(client);
      await waitFor(() => received.length > 0, 'a webhook delivery');
      assert.equal(received[0].claw_id, 'a');
      assert.equal(received.length, 1, 'one alert per threshold per window');
    } finally {
      hook.close();
    }
  });

  it('every response carries the agent standing', async () => {
    const harness = await open({ agents: { a: { budget: { limit_usd: 1, max_requests: 10, window: '1h' } } } });
    const response = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${harness.token('a')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-ratelimit-limit-requests'), '10');
    assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '9');
    assert.ok(response.headers.get('x-ratelimit-reset-requests'));
    assert.equal(response.headers.get('x-tollgate-budget-limit-usd'), '1');
    assert.ok(response.headers.get('x-tollgate-budget-remaining-usd'));
  });
});
