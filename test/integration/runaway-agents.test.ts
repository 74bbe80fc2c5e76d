// Runaway agents through the official SDKs: session budgets, the loop breaker's escalation, and forecasts in the admin API.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';
import { callOutcome, countingClient, ESCALATION, toolLoop } from '../helpers/loop-calls.ts';

const ask = (client: OpenAI, session?: string) =>
  client.chat.completions.create(
    { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 },
    session ? { headers: { 'x-tollgate-session': session } } : {},
  );

describe('runaway agents through the SDKs', () => {
  let h: Harness | undefined;
  const open = async (options: HarnessOptions) => (h = await startHarness(options));
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  after(async () => h?.close());

  it('caps a session while the agent budget has room; two sessions are independent; the refusal names the session', async () => {
    // each call costs $0.001025 (estimate a little more): the session admits 2, the agent 20
    const harness = await open({ agents: { a: { budget: { limit_usd: 0.02, window: '1h', session: { limit_usd: 0.0025, idle_ttl: '1h' } } } } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 2 });
    await ask(client, 'run-1');
    await ask(client, 'run-1');
    await assert.rejects(ask(client, 'run-1'), (error: unknown) => error instanceof OpenAI.RateLimitError && error.headers?.get('x-should-retry') === 'false');
    const raw = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${harness.token('a')}`, 'content-type': 'application/json', 'x-tollgate-session': 'run-1' },
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }),
    });
    const body = (await raw.json()) as { budget: { session: Record<string, unknown> } };
    assert.deepEqual(body.budget.session, { id: 'run-1', requests: 2, spent_usd: 0.00205 });
    await ask(client, 'run-2');
    await ask(client);
    assert.equal(harness.fake.requests.length, 4);
  });

  it('200 concurrent calls of one session on one process: never more than the session allows', async () => {
    const harness = await open({ agents: { a: { budget: { limit_usd: 10, window: '1h', session: { limit_usd: 0.0115 } } } }, upstream: { delayMs: 20 } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    const results = await Promise.allSettled(Array.from({ length: 200 }, () => ask(client, 'burst')));
    const admitted = results.filter((result) => result.status === 'fulfilled').length;
    assert.equal(admitted + results.filter((result) => result.status === 'rejected' && (result.reason as { status?: number }).status === 429).length, 200);
    const spent = harness.historyLines('a').reduce((sum, line) => sum + Number((line.usage as Record<string, number>).cost_micros), 0);
    assert.ok(admitted >= 9 && spent <= 11_500, `admitted ${admitted}, spent ${spent} µ$ of 11,500`);
  });

  it('a looping agent is alerted, then rate-limited, then stopped, one HTTP call per refusal; a varied agent at the same rate is not', async () => {
    const harness = await open({
      agents: {
        a: { budget: { loop: { same_tool_call: 3, escalate_after: 2, action: 'hard_stop' } } },
        b: { budget: { loop: { same_tool_call: 3, escalate_after: 2, action: 'hard_stop' } } },
      },
    });
    const outcomes: string[] = [];
    for (let i = 0; i < 9; i++) {
      // the SDK would wait out a rate-limited loop's retry-after (30 s here): those calls are made without retries; a
      // hard stop is made with the SDK's default retries, and must cost one HTTP call
      const { client, httpCalls } = countingClient({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: i < 6 ? 0 : 2 });
      const call = toolLoop(client, i);
      outcomes.push(await callOutcome(call));
      if (i === 4) await call.catch((error: InstanceType<typeof OpenAI.APIError>) => assert.equal(error.headers?.get('retry-after'), '30'));
      assert.equal(httpCalls(), 1, `call ${i}: one HTTP call`);
    }
    assert.deepEqual(outcomes, ESCALATION);
    assert.equal(harness.fake.requests.length, 4, 'no refused call reached the upstream');
    const events = harness.events.filter((event) => event.type === 'loop_detected');
    assert.deepEqual(
      events.filter((event) => event.alert).map((event) => event.action),
      ['alert', 'rate_limit', 'hard_stop'],
    );
    assert.ok(
      events.every((event) => /^[\w-]{16}$/.test(String(event.fingerprint)) && !JSON.stringify(event).includes('run_tests')),
      'hashes only',
    );
    // agent b: as many calls, as fast, each a different tool call
    const varied = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('b'), maxRetries: 0 });
    for (let i = 0; i < 9; i++)
      await varied.chat.completions.create({
        model: 'openai/gpt-4o',
        max_tokens: 50,
        messages: [
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: `c${i}`, type: 'function', function: { name: 'read_file', arguments: JSON.stringify({ line: i }) } }],
          },
          { role: 'tool', tool_call_id: `c${i}`, content: 'ok' },
        ],
      });
    assert.equal(harness.events.filter((event) => event.type === 'loop_detected' && event.claw_id === 'b').length, 0);
    // the Anthropic route speaks its own envelope
    const anthropic = new Anthropic({ baseURL: harness.url, apiKey: harness.token('a'), maxRetries: 0 });
    await assert.rejects(
      anthropic.messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
      (error: unknown) => error instanceof Anthropic.RateLimitError && (error.error as { error: { type: string } }).error.type === 'rate_limit_error',
    );
  });

  it("the admin API shows each USD limit's forecast at the last hour's rate, and the loop on the agent", async () => {
    const harness = await open({ agents: { a: { budget: { limit_usd: 0.01, window: '24h' } } }, env: { TOLLGATE_UI_TOKEN: 'ui-token-123456' } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    for (let i = 0; i < 3; i++) await ask(client);
    const detail = (await (await fetch(`${harness.tollgate.uiUrl}/api/agents/a`, { headers: { authorization: 'Bearer ui-token-123456' } })).json()) as {
      agent: { limits: { forecast: Record<string, unknown> }[] };
      loop: unknown;
    };
    const forecast = detail.agent.limits[0].forecast;
    assert.equal(forecast.rate_window_ms, 3_600_000);
    assert.equal(forecast.rate_usd_per_hour, 0.003075, 'the spend of the last hour, per hour');
    assert.ok(typeof forecast.exhausted_in_ms === 'number' && Math.abs(Number(forecast.exhausted_in_ms) - (0.006925 / 0.003075) * 3_600_000) < 1000);
    assert.equal(forecast.before_reset, true, 'it runs out in ~2h15m, before the 24h window frees');
    assert.equal(detail.loop, null);
  });
});
