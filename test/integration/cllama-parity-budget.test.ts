// Parity with cllama's budget behaviours 49-65 (cllama-spec.md §12), spend seeded as cllama history lines, one `it` per item.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, type AgentSpec, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

const HOUR = { window: '1h', behavior: 'hard_stop' };

/** A cllama history line of `agent`, `ageMs` old, costing `cost` USD (none: an unknown cost). */
function spent(agent: string, cost: number | undefined, ageMs = 60_000): Record<string, unknown> {
  return {
    version: 1,
    ts: new Date(Date.now() - ageMs).toISOString(),
    claw_id: agent,
    path: '/v1/chat/completions',
    response: { format: 'json', json: {} },
    usage: cost === undefined ? {} : { reported_cost_usd: cost },
  };
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: any;
}

async function ask(
  h: Harness,
  agent: string,
  body: string = JSON.stringify({ model: 'openai/gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
): Promise<Answer> {
  const response = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent}:s`, 'content-type': 'application/json' },
    body,
  });
  return { status: response.status, headers: response.headers, json: await response.json() };
}

const interventions = (h: Harness, agent: string) => h.events.filter((event) => event.type === 'intervention' && event.claw_id === agent);
const upstreamCallsOf = (h: Harness, content: string) => h.fake.requests.filter((request) => JSON.stringify(request.body).includes(content)).length;

const agents: Record<string, AgentSpec> = {
  b49: { budget: { limit_usd: 0.5, ...HOUR } },
  b50: { budget: { max_requests: 1, window: '1h', behavior: 'rate_limit' } },
  b51: { budget: { limit_usd: 0.5, ...HOUR } },
  b52: { budget: { limit_usd: 0.5, window: '1h' } },
  b52h: { budget: { limit_usd: 0.5, window: '1h' } },
  b55: { budget: { limit_usd: 1, ...HOUR } },
  b56: { budget: { limit_usd: 0.5, ...HOUR } },
  b56low: { budget: { limit_usd: 0.5, ...HOUR } },
  b57: { budget: { limit_usd: 0.5, max_requests: 1, ...HOUR } },
  b58: { budget: { limit_usd: 0.5, window: '1h', behavior: 'soft_alert' } },
  b59: { budget: { limit_usd: 0, window: '1h' } },
  b59d: { budget: { limit_usd: 0.5, window: '7d' } },
  b59b: { budget: { limit_usd: 0.5, window: '1h', behavior: 'Hard_Stop' } },
  b61: { contextOverride: { max_requests: 1, window: '1h' } },
  b62: { budget: { limit_usd: '1' } },
  b63: { budget: { limit_usd: 0.5, ...HOUR } },
  b64: { budget: { limit_usd: 0.5, window: '2s' } },
  b65: { budget: { limit_usd: 0.5, ...HOUR } },
};
const tokens = Object.fromEntries(Object.entries(agents).map(([id, spec]) => [id, { ...spec, token: `${id}:s` }]));

describe('cllama parity 49-65: budgets, fail open', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: tokens,
      governance: { b51: { limit_usd: 1, ...HOUR }, b52: '{not json' },
      seedHistory: {
        b49: [spent('b49', 0.5)],
        b50: [spent('b50', 0)],
        b51: [spent('b51', 0.5)],
        b52h: [spent('b52h', 0.5), '{bad-json'],
        b55: [spent('b55', 0.25), spent('b55', 0.75), spent('b55', undefined), spent('b55', 5, 2 * 3_600_000)],
        b56: [spent('b56', 0.5)],
        b56low: [spent('b56low', 0.4999)],
        b57: [spent('b57', 0.5)],
        b58: [spent('b58', 0.5)],
        b59d: [spent('b59d', 0.5)],
        b59b: [spent('b59b', 0.5)],
        b61: [spent('b61', 0)],
        b63: [spent('b63', 0.5)],
        b64: [spent('b64', 0.5, 3_000)],
        b65: [spent('b65', 0.5)],
      },
    });
  });
  after(() => h.close());

  it('49 hard_stop $0.50/1h with $0.50 spent a minute ago: 429, error.code = error.type = budget_exceeded, intervention logged, upstream not called', async () => {
    const answer = await ask(h, 'b49');
    assert.equal(answer.status, 429);
    assert.equal(answer.json.error.code, 'budget_exceeded');
    assert.equal(answer.json.error.type, 'budget_exceeded');
    assert.equal(h.fake.requests.length, 0);
    await waitFor(() => interventions(h, 'b49').some((event) => event.intervention === 'budget_exceeded'));
  });

  it('50 rate_limit max_requests 1 with one request in the window, on /v1/messages: 429 with error.code rate_limited (in the Anthropic envelope, deliberately)', async () => {
    const client = new Anthropic({ baseURL: h.url, apiKey: 'b50:s', maxRetries: 0 });
    await assert.rejects(
      client.messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 5, messages: [{ role: 'user', content: 'case 50' }] }),
      (error: unknown) => {
        assert.ok(error instanceof Anthropic.RateLimitError);
        assert.equal((error.error as { error: { code: string } }).error.code, 'rate_limited');
        return true;
      },
    );
    assert.equal(upstreamCallsOf(h, 'case 50'), 0);
  });

  it('51 metadata $0.50 spent, a governance budget.json raising it to $1.00: 200', async () => {
    assert.equal((await ask(h, 'b51')).status, 200);
  });

  it('52 a budget check that cannot run fails open: 200, budget_check_unavailable and an error event (a corrupt history line is skipped instead: docs/budgets.md)', async () => {
    assert.equal((await ask(h, 'b52')).status, 200);
    await waitFor(() => interventions(h, 'b52').some((event) => event.intervention === 'budget_check_unavailable'));
    await waitFor(() => h.events.some((event) => event.type === 'error' && event.claw_id === 'b52' && event.status_code === 0));
    assert.equal((await ask(h, 'b52h')).status, 429, 'the $0.50 beside a {bad-json line still counts');
  });

  it("54 the 429 of case 49: application/json, a budget object as cllama's (no max_requests key); Retry-After is the time until it fits, deliberately", async () => {
    const answer = await ask(h, 'b49');
    assert.equal(answer.headers.get('content-type'), 'application/json');
    const { behavior, limit_usd, reported_cost_usd, requests, unknown_cost_requests, window } = answer.json.budget;
    assert.deepEqual(
      { behavior, limit_usd, reported_cost_usd, requests, unknown_cost_requests, window },
      { behavior: 'hard_stop', limit_usd: 0.5, reported_cost_usd: 0.5, requests: 1, unknown_cost_requests: 0, window: '1h' },
    );
    assert.ok(!('max_requests' in answer.json.budget));
    const retryAfter = Number(answer.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
    assert.equal(answer.headers.get('x-should-retry'), 'false');
  });

  it('55 $0.25, $0.75 and one unknown cost in the window, one entry older: requests 3, spend 1.0, unknown 1', async () => {
    const answer = await ask(h, 'b55');
    assert.equal(answer.status, 429);
    assert.deepEqual(
      [answer.json.budget.requests, answer.json.budget.reported_cost_usd, answer.json.budget.unknown_cost_requests, answer.json.budget.limit_usd],
      [3, 1, 1, 1],
    );
  });

  it('56 spend exactly at limit_usd: 429; just below (and the request fits): 200', async () => {
    assert.equal((await ask(h, 'b56')).status, 429);
    assert.equal((await ask(h, 'b56low')).status, 200);
  });

  it('57 both limits reached: budget_exceeded (USD is checked first)', async () => {
    const answer = await ask(h, 'b57');
    assert.equal(answer.status, 429);
    assert.equal(answer.json.error.code, 'budget_exceeded');
  });

  it('58 soft_alert over the limit: 200 from upstream and a budget_exceeded intervention', async () => {
    assert.equal((await ask(h, 'b58')).status, 200);
    await waitFor(() => interventions(h, 'b58').some((event) => event.intervention === 'budget_exceeded'));
  });

  it('59 limit_usd 0: 200 and budget_check_unavailable (window 7d and behavior Hard_Stop are valid in tollgate, deliberately: 429)', async () => {
    assert.equal((await ask(h, 'b59')).status, 200);
    await waitFor(() => interventions(h, 'b59').some((event) => event.intervention === 'budget_check_unavailable'));
    assert.equal((await ask(h, 'b59d')).status, 429);
    assert.equal((await ask(h, 'b59b')).status, 429);
  });

  it('61 only <context>/b61/budget-override.json {max_requests 1, window 1h} and one request in the window: 429 rate_limited, behavior hard_stop', async () => {
    const answer = await ask(h, 'b61');
    assert.equal(answer.status, 429);
    assert.equal(answer.json.error.code, 'rate_limited');
    assert.equal(answer.json.budget.behavior, 'hard_stop');
  });

  it('62 metadata budget {"limit_usd":"1"}: the agent is not locked out (cllama 403s every call; deliberately 200 + budget_check_unavailable)', async () => {
    assert.equal((await ask(h, 'b62')).status, 200);
    await waitFor(() => interventions(h, 'b62').some((event) => event.intervention === 'budget_check_unavailable'));
  });

  it('63 over budget with a malformed body: 400 (parsing comes first); with an unroutable model: 400, deliberately (cllama 429: docs/errors.md)', async () => {
    const malformed = await ask(h, 'b63', '{"model": ');
    assert.equal(malformed.status, 400);
    const bare = await ask(h, 'b63', JSON.stringify({ model: 'gpt-4o', messages: [] }));
    assert.equal(bare.status, 400);
    assert.equal(bare.json.error.code, 'model_not_routable');
  });

  it('64 a rolling window: $0.50 spent 3 s ago no longer counts against a 2s window', async () => {
    assert.equal((await ask(h, 'b64')).status, 200);
  });

  it('65 a blocked request writes no history line, and repeated requests keep getting 429', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await ask(h, 'b65')).status, 429);
    await waitFor(() => h.tollgate.deps.history.pendingEntries === 0);
    assert.equal(h.historyLines('b65').length, 1, 'only the seeded line');
  });
});

describe('cllama parity 53, 59: budgets, CLLAMA_BUDGET_FAIL_MODE=closed', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: { c53: { token: 'c53:s', budget: { limit_usd: 0.5, window: '1h' } }, c59: { token: 'c59:s', budget: { limit_usd: 0, window: '1h' } } },
      governance: { c53: '{not json' },
      env: { CLLAMA_BUDGET_FAIL_MODE: 'Closed ' },
    });
  });
  after(() => h.close());

  it('53 fail mode closed (case-insensitive, trimmed): 503 "budget enforcement unavailable", upstream not called', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'c53:s', maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), (error: unknown) => {
      assert.equal((error as { status: number }).status, 503);
      assert.equal((error as { error: { message: string } }).error.message, 'budget enforcement unavailable');
      return true;
    });
    assert.equal(h.fake.requests.length, 0);
  });

  it('59 limit_usd 0 with fail mode closed: 503', async () => {
    assert.equal((await ask(h, 'c59')).status, 503);
  });
});
