// Metrics: bus events become counters and a histogram; budget gauges and ledger health are read at scrape time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Agent } from '../../../src/auth/agent.ts';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import type { Ledger } from '../../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

function agent(id: string, budget: unknown): Agent {
  return {
    id,
    secret: 's',
    pod: 'p',
    service: id,
    type: 't',
    timezone: '',
    dir: `/ctx/${id}`,
    metadataBudget: budget,
    contextOverride: undefined,
    historyTokens: [],
  };
}

describe('metrics', () => {
  it('labels at most 500 distinct models, the rest as "other", and cuts long names: made-up models cannot grow it without end', async () => {
    const bus = new EventBus();
    const metrics = createMetrics({
      bus,
      ledger: new MemoryLedger({ sweepIntervalMs: 0 }),
      agents: { list: () => [] },
      policies: new PolicyStore({ governanceDir: null }),
      history: { pendingEntries: 0 },
    });
    for (let index = 0; index < 700; index++) {
      bus.emit(
        rawEvent({
          type: 'response',
          claw_id: 'a',
          model: null,
          intervention: null,
          path: '/v1/chat/completions',
          provider: 'openai',
          upstream_model: `made-up-${index}`,
          status_code: 404,
          latency_ms: 5,
        }),
      );
    }
    bus.emit(
      rawEvent({
        type: 'response',
        claw_id: 'a',
        model: null,
        intervention: null,
        path: '/v1/chat/completions',
        provider: 'openai',
        upstream_model: 'made-up-3',
        status_code: 404,
        latency_ms: 5,
      }),
    );
    const text = await metrics.render();
    const requestModels = new Set([...text.matchAll(/^tollgate_requests_total\{agent="a",model="([^"]*)"/gm)].map((match) => match[1]));
    assert.equal(requestModels.size, 501);
    assert.match(text, /^tollgate_requests_total\{agent="a",model="other",status="404"\} 200$/m);
    assert.match(text, /^tollgate_requests_total\{agent="a",model="openai\/made-up-3",status="404"\} 2$/m, 'a model labelled before keeps its label');
    assert.match(text, /^tollgate_upstream_latency_seconds_count\{provider="openai",model="other"\} 200$/m);
    bus.emit(
      rawEvent({
        type: 'response',
        claw_id: 'b',
        model: null,
        intervention: null,
        path: '/v1/chat/completions',
        provider: 'openai',
        upstream_model: 'made-up-1',
        status_code: 200,
        latency_ms: 5,
      }),
    );
    assert.match(await metrics.render(), /^tollgate_requests_total\{agent="b",model="openai\/made-up-1",status="200"\} 1$/m);
    metrics.close();
  });

  it('counts calls, tokens, cost, unpriced calls, latency, decisions and interventions from events', async () => {
    const bus = new EventBus();
    const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
    const policies = new PolicyStore({ governanceDir: null });
    const metrics = createMetrics({ bus, ledger, agents: { list: () => [] }, policies, history: { pendingEntries: 3 } });
    const call = { claw_id: 'a', model: 'openai/gpt-4o', intervention: null, path: '/v1/chat/completions', provider: 'openai', upstream_model: 'gpt-4o' };
    bus.emit(rawEvent({ type: 'response', ...call, status_code: 200, latency_ms: 120, tokens_in: 10, tokens_out: 5, cached_tokens: 2, cost_micros: 700 }));
    bus.emit(rawEvent({ type: 'response', ...call, status_code: 200, latency_ms: 80, tokens_in: 10, tokens_out: 5, pricing_status: 'unpriced' }));
    bus.emit({ type: 'error', ...call, status_code: 0, latency_ms: 30, error: 'stream ended early' });
    bus.emit({ type: 'error', claw_id: null, model: null, intervention: null, path: '/v1/chat/completions', status_code: 401, error: 'auth' });
    bus.emit({ type: 'error', claw_id: 'a', model: 'x', intervention: null, status_code: 0, error: 'engine-internal, not a request outcome' });
    bus.emit(rawEvent({ type: 'budget_decision', claw_id: 'a', model: null, intervention: null, outcome: 'block' }));
    bus.emit(rawEvent({ type: 'intervention', claw_id: 'a', model: null, intervention: 'budget_exceeded' }));
    bus.emit(rawEvent({ type: 'override_changed', claw_id: 'a', model: null, intervention: null, action: 'set' }));
    const text = await metrics.render();
    assert.match(text, /^tollgate_requests_total\{agent="a",model="openai\/gpt-4o",status="200"\} 2$/m);
    assert.match(text, /^tollgate_requests_total\{agent="a",model="openai\/gpt-4o",status="0"\} 1$/m);
    assert.match(text, /^tollgate_requests_total\{agent="",model="none",status="401"\} 1$/m);
    assert.doesNotMatch(text, /model="x"/, 'events without a path are not request outcomes');
    assert.match(text, /^tollgate_tokens_total\{agent="a",model="openai\/gpt-4o",kind="input"\} 20$/m);
    assert.match(text, /^tollgate_tokens_total\{agent="a",model="openai\/gpt-4o",kind="cache_read"\} 2$/m);
    assert.match(text, /^tollgate_cost_micros_total\{agent="a",model="openai\/gpt-4o"\} 700$/m);
    assert.match(text, /^tollgate_unpriced_requests_total\{agent="a",model="openai\/gpt-4o"\} 1$/m);
    assert.match(text, /^tollgate_upstream_latency_seconds_bucket\{le="0\.1",provider="openai",model="gpt-4o"\} 2$/m);
    assert.match(text, /^tollgate_upstream_latency_seconds_count\{provider="openai",model="gpt-4o"\} 3$/m);
    assert.match(text, /^tollgate_budget_decisions_total\{agent="a",outcome="block"\} 1$/m);
    assert.match(text, /^tollgate_interventions_total\{agent="a",intervention="budget_exceeded"\} 1$/m);
    assert.match(text, /^tollgate_override_changes_total\{action="set"\} 1$/m);
    assert.match(text, /^tollgate_history_pending_entries 3$/m);
    assert.match(metrics.contentType, /^text\/plain/);
    metrics.close();
    bus.emit(rawEvent({ type: 'override_changed', claw_id: 'a', model: null, intervention: null, action: 'set' }));
    assert.match(await metrics.render(), /^tollgate_override_changes_total\{action="set"\} 1$/m, 'closed: no longer listening');
  });

  it('reads budget standing per agent and limit at scrape time, and reports a failing ledger', async () => {
    const bus = new EventBus();
    const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
    const policies = new PolicyStore({ governanceDir: null });
    const agents = [agent('a', { limit_usd: 2, max_requests: 10, window: '1h' }), agent('b', { limit_usd: 'oops' })];
    await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 500_000, requests: 4 }, at: Date.now() });
    const metrics = createMetrics({ bus, ledger, agents: { list: () => agents }, policies });
    const text = await metrics.render();
    assert.match(text, /^tollgate_budget_limit\{agent="a",limit="agent:a\/usd\/1h",metric="usd",window="1h"\} 2$/m);
    assert.match(text, /^tollgate_budget_used\{agent="a",limit="agent:a\/usd\/1h",metric="usd",window="1h"\} 0\.5$/m);
    assert.match(text, /^tollgate_budget_remaining\{agent="a",limit="agent:a\/usd\/1h",metric="usd",window="1h"\} 1\.5$/m);
    assert.match(text, /^tollgate_budget_remaining\{agent="a",limit="agent:a\/requests\/1h",metric="requests",window="1h"\} 6$/m);
    assert.doesNotMatch(text, /agent="b"/, 'an unusable policy has no limits to show');
    assert.match(text, /^tollgate_ledger_up\{kind="memory"\} 1$/m);

    const broken: Ledger = {
      ...ledger,
      standing: async () => {
        throw new Error('down');
      },
      health: async () => ({ ok: false, kind: 'redis', detail: 'down' }),
    } as unknown as Ledger;
    const failing = createMetrics({ bus, ledger: broken, agents: { list: () => agents }, policies });
    const down = await failing.render();
    assert.match(down, /^tollgate_ledger_up\{kind="redis"\} 0$/m);
    assert.doesNotMatch(down, /^tollgate_budget_remaining\{/m);
    await ledger.close();
  });
});
