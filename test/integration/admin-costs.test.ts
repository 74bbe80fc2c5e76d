// cllama's GET /costs/api and Prometheus GET /metrics on the UI port, after real traffic and after a restart.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { startUi, type UiFixture } from '../helpers/ui-server.ts';

async function chat(h: Harness, agent: string, body: Record<string, unknown> = {}): Promise<Response> {
  const response = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.token(agent)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100, ...body }),
  });
  await response.text();
  return response;
}

async function messages(h: Harness, agent: string): Promise<Response> {
  const response = await fetch(`${h.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': h.token(agent), 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-sonnet-4-20250514', max_tokens: 60, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await response.text();
  return response;
}

async function costs(ui: UiFixture): Promise<{ text: string; body: any }> {
  const response = await fetch(`${ui.url}/costs/api`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8', 'as cllama sends it');
  const text = await response.text();
  return { text, body: JSON.parse(text) };
}

describe('GET /costs/api and GET /metrics', () => {
  let h: Harness | undefined;
  let ui: UiFixture | undefined;
  afterEach(async () => {
    await ui?.close();
    await h?.close();
    ui = undefined;
    h = undefined;
  });
  after(async () => {
    await ui?.close();
    await h?.close();
  });

  it('answers the empty object exactly as cllama when nothing was called', async () => {
    h = await startHarness();
    ui = await startUi(h);
    await waitUntil(() => ui!.costs.ready);
    const { text } = await costs(ui);
    assert.equal(text, '{\n  "total_cost_usd": 0,\n  "total_requests": 0,\n  "unpriced_requests": 0,\n  "agents": {}\n}\n');
  });

  it('totals real traffic per agent, provider and model (priced and unpriced), and keeps them across a restart', async () => {
    h = await startHarness({ agents: { a: {}, b: {} } });
    ui = await startUi(h);
    assert.equal((await chat(h, 'a')).status, 200);
    assert.equal((await chat(h, 'a', { stream: true })).status, 200);
    assert.equal((await messages(h, 'a')).status, 200);
    assert.equal((await chat(h, 'b', { model: 'openai/nonexistent-model-xyz', max_tokens: 7 })).status, 200);
    await waitUntil(() => h!.historyLines('a').length === 3 && h!.historyLines('b').length === 1);
    const micros = (agent: string) => h!.historyLines(agent).map((line) => (line.usage as { cost_micros?: number }).cost_micros ?? 0);
    const [gptOne, gptStream, claude] = micros('a');
    assert.equal(gptOne, 1025, '10 × $2.50/M + 100 × $10/M');
    assert.equal(gptStream, 1025);
    assert.equal(claude, 930, '10 × $3/M + 60 × $15/M');

    const { text, body } = await costs(ui);
    assert.ok(text.startsWith('{\n  "total_cost_usd": '), 'two-space indent');
    assert.ok(text.endsWith('}\n'));
    assert.deepEqual(Object.keys(body), ['total_cost_usd', 'total_requests', 'unpriced_requests', 'agents']);
    assert.deepEqual(body, {
      total_cost_usd: 0.00298,
      total_requests: 4,
      unpriced_requests: 1,
      agents: {
        a: {
          total_cost_usd: 0.00298,
          total_requests: 3,
          unpriced_requests: 0,
          models: [
            {
              provider: 'anthropic',
              model: 'claude-sonnet-4-20250514',
              input_tokens: 10,
              output_tokens: 60,
              cost_usd: 0.00093,
              requests: 1,
              priced_requests: 1,
              unpriced_requests: 0,
              pricing_status: 'priced',
            },
            {
              provider: 'openai',
              model: 'gpt-4o',
              input_tokens: 20,
              output_tokens: 200,
              cost_usd: 0.00205,
              requests: 2,
              priced_requests: 2,
              unpriced_requests: 0,
              pricing_status: 'priced',
            },
          ],
        },
        b: {
          total_cost_usd: 0,
          total_requests: 1,
          unpriced_requests: 1,
          models: [
            {
              provider: 'openai',
              model: 'nonexistent-model-xyz',
              input_tokens: 10,
              output_tokens: 7,
              cost_usd: 0,
              requests: 1,
              priced_requests: 0,
              unpriced_requests: 1,
              pricing_status: 'unpriced',
            },
          ],
        },
      },
    });

    await ui.close();
    h = await h.restart();
    ui = await startUi(h);
    await waitUntil(() => ui!.costs.ready);
    const afterRestart = await costs(ui);
    assert.equal(afterRestart.text, text, 'rebuilt from history: identical after a restart');

    assert.equal((await chat(h, 'a')).status, 200);
    await waitUntil(() => h!.historyLines('a').length === 4);
    const { body: grown } = await costs(ui);
    assert.equal(grown.total_requests, 5, 'one more call, counted once');
    assert.equal(grown.agents.a.models[1].requests, 3);
    assert.equal(grown.total_cost_usd, 0.004005);
  });

  it('exposes requests, tokens, cost, latency, budget decisions, remaining budget and ledger health', async () => {
    h = await startHarness({ agents: { a: { budget: { limit_usd: 1, window: '1h' } }, b: { budget: { max_requests: 1, window: '1h' } } } });
    ui = await startUi(h);
    assert.equal((await chat(h, 'a')).status, 200);
    assert.equal((await chat(h, 'a')).status, 200);
    assert.equal((await chat(h, 'b')).status, 200);
    assert.equal((await chat(h, 'b')).status, 429);
    const response = await fetch(`${ui.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    const expectLine = (pattern: RegExp) => assert.match(text, pattern);
    expectLine(/^tollgate_requests_total\{agent="a",model="openai\/gpt-4o",status="200"\} 2$/m);
    expectLine(/^tollgate_requests_total\{agent="b",model="openai\/gpt-4o",status="200"\} 1$/m);
    expectLine(/^tollgate_tokens_total\{agent="a",model="openai\/gpt-4o",kind="input"\} 20$/m);
    expectLine(/^tollgate_tokens_total\{agent="a",model="openai\/gpt-4o",kind="output"\} 200$/m);
    expectLine(/^tollgate_cost_micros_total\{agent="a",model="openai\/gpt-4o"\} 2050$/m);
    expectLine(/^tollgate_upstream_latency_seconds_count\{provider="openai",model="gpt-4o"\} 3$/m);
    expectLine(/^tollgate_upstream_latency_seconds_bucket\{le="\+Inf",provider="openai",model="gpt-4o"\} 3$/m);
    expectLine(/^tollgate_budget_decisions_total\{agent="a",outcome="allow"\} 2$/m);
    expectLine(/^tollgate_budget_decisions_total\{agent="b",outcome="block"\} 1$/m);
    expectLine(/^tollgate_interventions_total\{agent="b",intervention="rate_limited"\} 1$/m);
    expectLine(/^tollgate_budget_limit\{agent="a",limit="agent:a\/usd\/1h",metric="usd",window="1h"\} 1$/m);
    expectLine(/^tollgate_budget_used\{agent="a",limit="agent:a\/usd\/1h",metric="usd",window="1h"\} 0\.00205$/m);
    expectLine(/^tollgate_budget_remaining\{agent="a",limit="agent:a\/usd\/1h",metric="usd",window="1h"\} 0\.99795$/m);
    expectLine(/^tollgate_budget_remaining\{agent="b",limit="agent:b\/requests\/1h",metric="requests",window="1h"\} 0$/m);
    expectLine(/^tollgate_ledger_up\{kind="memory"\} 1$/m);
    expectLine(/^tollgate_history_pending_entries \d+$/m);
    assert.doesNotMatch(text, /process_cpu|nodejs_/, 'own registry, no default metrics');
  });
});

async function waitUntil(check: () => boolean, attempts = 300): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail('condition not reached');
}
