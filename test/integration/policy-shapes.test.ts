// Every kind of limit docs/budgets.md offers, on both ledgers: each is checked (never "unavailable") and shows in the admin API.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startGoverned, type GovernedProxy } from '../helpers/ledger-choice.ts';

/** One agent per shape; limits generous enough that these few calls pass them all. */
const SHAPES: Record<string, unknown> = {
  usd: { limit_usd: 5, window: '1h' },
  'rate-limit': { limit_usd: 5, window: '1h', behavior: 'rate_limit' },
  requests: { max_requests: 100, window: '1m' },
  tokens: { max_input_tokens: 100_000, max_output_tokens: 100_000, max_total_tokens: 200_000, window: '1h' },
  concurrency: { max_concurrent: 3 },
  'soft-alert': { limit_usd: 1, window: '7d', behavior: 'soft_alert', alerts: [0.5, 1] },
  'model-scoped': {
    limits: [
      { limit_usd: 50, window: '1d' },
      { max_requests: 100, window: '1m', models: ['anthropic/*'] },
    ],
  },
  shared: { shared: ['team'] },
  'unknown-cost': { limit_usd: 5, window: '1h', unknown_cost: 'estimate', fallback_rates: { input_per_mtok: 3, output_per_mtok: 15 } },
  downgrade: { limit_usd: 5, window: '1h', downgrade_to: 'openai/gpt-4o-mini', downgrade_at: 0.9 },
  everything: {
    limit_usd: 5,
    window: '1h',
    behavior: 'rate_limit',
    limits: [
      { limit_usd: 50, window: '1d', behavior: 'hard_stop' },
      { max_requests: 100, window: '1m', models: ['anthropic/*'] },
    ],
    max_concurrent: 8,
    shared: ['team'],
    unknown_cost: 'estimate',
    fallback_rates: { input_per_mtok: 3, output_per_mtok: 15 },
    alerts: [0.5, 0.8, 1],
    downgrade_to: 'openai/gpt-4o-mini',
    downgrade_at: 0.9,
  },
};

for (const ledger of ['memory', 'redis'] as const)
  describe(`every limit shape (${ledger} ledger)`, () => {
    let proxy: GovernedProxy;
    before(async () => {
      proxy = await startGoverned({
        kind: ledger,
        label: 'shapes',
        harness: {
          agents: Object.fromEntries(Object.entries(SHAPES).map(([id, budget]) => [id, { budget }])),
          shared: { team: { limit_usd: 10, window: '1d', max_concurrent: 8, alerts: [0.9] } },
        },
      });
    });
    after(() => proxy.close());

    it('checks every shape on both routes and reports its standing', async () => {
      const { h, ui } = proxy;
      for (const agent of Object.keys(SHAPES)) {
        for (const anthropic of [false, true]) {
          const response = await fetch(`${h.url}${anthropic ? '/v1/messages' : '/v1/chat/completions'}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${h.token(agent)}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
            body: JSON.stringify({ model: anthropic ? 'claude-sonnet-4-5' : 'openai/gpt-4o', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
          });
          assert.equal(response.status, 200, `${agent} on ${anthropic ? '/v1/messages' : '/v1/chat/completions'}: ${await response.text()}`);
        }
        const detail = await fetch(`${ui.url}/api/agents/${agent}`);
        assert.equal(detail.status, 200, `${agent}'s admin detail: ${await detail.clone().text()}`);
        const body = (await detail.json()) as { agent: { limits: { metric: string; used: number }[] } };
        assert.ok(body.agent.limits.length > 0, `${agent}'s limits are listed`);
        const requests = body.agent.limits.find((limit) => limit.metric === 'requests' && !('models' in limit && limit.models));
        if (requests) assert.equal(requests.used, 2, `${agent}: both calls counted`);
      }
      const unavailable = h.events.filter((event) => event.type === 'budget_decision' && event.outcome === 'unavailable');
      assert.deepEqual(unavailable, [], 'no check was unavailable');
    });
  });
