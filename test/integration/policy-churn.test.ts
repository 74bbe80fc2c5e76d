// Overrides changing under traffic (limits, shared budgets, downgrade, cleared): no 5xx, no reservation left, spend as recorded.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { seededRandom } from '../helpers/random.ts';
import { startUi, type UiFixture } from '../helpers/ui-server.ts';
import { waitFor } from '../helpers/wait.ts';

const TOKEN = 'churn-token';

const OVERRIDES: readonly (Record<string, unknown> | null)[] = [
  null,
  { limit_usd: 10, window: '1h' },
  { limit_usd: 0.002, window: '1h', behavior: 'rate_limit' },
  { limit_usd: 10, window: '1h', shared: ['team'] },
  { max_requests: 3, window: '1m' },
  { max_concurrent: 2 },
  { limit_usd: 0.0015, window: '1h', downgrade_to: 'openai/gpt-4o-mini' },
  { max_total_tokens: 500, window: '10m', behavior: 'soft_alert', alerts: [0.5] },
];

describe('policy overrides changing under traffic', () => {
  let h: Harness;
  let ui: UiFixture;
  before(async () => {
    h = await startHarness({
      agents: { churn: { budget: { limit_usd: 100, window: '1h' } } },
      shared: { team: { limit_usd: 100, window: '1d', max_concurrent: 3 } },
      env: { CLLAMA_UI_TOKEN: TOKEN, CLLAMA_BUDGET_FAIL_MODE: 'closed' },
    });
    ui = await startUi(h);
  });
  after(async () => {
    await ui.close();
    await h.close();
  });

  it('answers every call with a 200 or a budget 429, ends every reservation, and charges what history records', async () => {
    const random = seededRandom(99);
    let calling = true;
    const churn = (async () => {
      const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
      while (calling) {
        const override = OVERRIDES[Math.floor(random() * OVERRIDES.length)];
        const response =
          override === null
            ? await fetch(`${ui.url}/api/agents/churn/override`, { method: 'DELETE', headers })
            : await fetch(`${ui.url}/api/agents/churn/override`, { method: 'PUT', headers, body: JSON.stringify({ ...override, reason: 'churn test' }) });
        assert.ok(response.status < 300, `override ${JSON.stringify(override)}: ${response.status} ${await response.text()}`);
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 15)));
      }
    })();
    const statuses = new Map<number, number>();
    for (let round = 0; round < 40; round++) {
      const answers = await Promise.all(
        Array.from({ length: 4 }, async (_, index) => {
          const stream = (round + index) % 2 === 0;
          const response = await fetch(`${h.url}/v1/chat/completions`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${h.token('churn')}`,
              'content-type': 'application/json',
              'x-fake-behavior': JSON.stringify({ delayMs: Math.floor(random() * 10) }),
            },
            body: JSON.stringify({ model: 'openai/gpt-4o', max_tokens: 20, stream, messages: [{ role: 'user', content: `round ${round}` }] }),
          });
          return { status: response.status, text: await response.text() };
        }),
      );
      for (const answer of answers) {
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        assert.ok(answer.status === 200 || answer.status === 429, `${answer.status}: ${answer.text}`);
      }
    }
    calling = false;
    await churn;
    assert.ok((statuses.get(200) ?? 0) >= 5 && (statuses.get(429) ?? 0) >= 5, `both admitted and refused calls: ${JSON.stringify([...statuses])}`);

    const checks = [
      { id: 'agent', scope: 'agent:churn', metric: 'usd_micros', windowMs: 3_600_000, limit: 1e12 },
      { id: 'team', scope: 'shared:team', metric: 'usd_micros', windowMs: 3_600_000, limit: 1e12 },
    ] as const;
    await waitFor(() => h.tollgate.deps.history.pendingEntries === 0);
    const [agent, team] = await h.tollgate.ledger.standing(checks);
    assert.equal(agent.reserved, 0, 'no reservation left on the agent');
    assert.equal(team.reserved, 0, 'none on the shared budget either, whatever the override said when the call settled');
    const recorded = h.historyLines('churn').reduce((sum, entry) => sum + ((entry.usage as { cost_micros?: number }).cost_micros ?? 0), 0);
    assert.equal(agent.used, recorded, 'the agent was charged exactly what history records');
    assert.ok(team.used <= recorded, 'the shared budget was charged only calls made while the agent drew from it');
  });
});
