// The per-agent series of /metrics are dropped once their agent has left the registry, so a churning fleet does not grow them for ever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Agent } from '../../../src/auth/agent.ts';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

function agent(id: string): Agent {
  return {
    id,
    secret: 's',
    pod: 'p',
    service: id,
    type: 't',
    timezone: '',
    dir: `/ctx/${id}`,
    metadataBudget: undefined,
    contextOverride: undefined,
    historyTokens: [],
  };
}

function callOf(bus: EventBus, id: string | null, model = 'gpt-4o'): void {
  const base = { claw_id: id, model: `openai/${model}`, intervention: null, path: '/v1/chat/completions', provider: 'openai', upstream_model: model };
  bus.emit(rawEvent({ type: 'response', ...base, status_code: 200, latency_ms: 10, tokens_in: 3, tokens_out: 2, cost_micros: 5 }));
  if (id) bus.emit(rawEvent({ type: 'budget_decision', claw_id: id, model: null, intervention: null, outcome: 'allow' }));
  if (id) bus.emit(rawEvent({ type: 'intervention', claw_id: id, model: null, intervention: 'budget_exceeded' }));
}

function agentsIn(text: string): Set<string> {
  return new Set([...text.matchAll(/^tollgate_\w+_total\{agent="([^"]*)"/gm)].map((match) => match[1]));
}

test('3,000 agents created, called and deleted: their series go, the live agents and unauthenticated calls stay', async () => {
  const bus = new EventBus();
  let live: Agent[] = [agent('keeper')];
  const metrics = createMetrics({
    bus,
    ledger: new MemoryLedger({ sweepIntervalMs: 0 }),
    agents: { list: () => live },
    policies: new PolicyStore({ governanceDir: null }),
  });
  try {
    callOf(bus, 'keeper');
    callOf(bus, null);
    for (let wave = 0; wave < 3; wave++) {
      const batch = Array.from({ length: 1000 }, (_, index) => agent(`w${wave}-${index}`));
      live = [agent('keeper'), ...batch];
      for (const member of batch) callOf(bus, member.id, `model-${wave}`);
      metrics.forgetDeparted();
    }
    live = [agent('keeper')]; // the last wave is deleted too
    metrics.forgetDeparted();
    metrics.forgetDeparted();
    const text = await metrics.render();
    assert.deepEqual([...agentsIn(text)].sort(), ['', 'keeper']);
    assert.match(text, /^tollgate_requests_total\{agent="keeper",model="openai\/gpt-4o",status="200"\} 1$/m);
    assert.match(text, /^tollgate_requests_total\{agent="",model="openai\/gpt-4o",status="200"\} 1$/m);
    assert.match(text, /^tollgate_upstream_latency_seconds_count\{provider="openai",model="gpt-4o"\} 2$/m, 'the histogram, not per agent, keeps counting');
  } finally {
    metrics.close();
  }
});

test('an agent missing from one check only (a metadata.json being rewritten) keeps its series', async () => {
  const bus = new EventBus();
  let live: Agent[] = [agent('flaky')];
  const metrics = createMetrics({
    bus,
    ledger: new MemoryLedger({ sweepIntervalMs: 0 }),
    agents: { list: () => live },
    policies: new PolicyStore({ governanceDir: null }),
  });
  try {
    callOf(bus, 'flaky');
    live = [];
    metrics.forgetDeparted();
    live = [agent('flaky')];
    metrics.forgetDeparted();
    live = [];
    metrics.forgetDeparted();
    assert.match(await metrics.render(), /^tollgate_requests_total\{agent="flaky",model="openai\/gpt-4o",status="200"\} 1$/m);
    metrics.forgetDeparted();
    assert.doesNotMatch(await metrics.render(), /agent="flaky"/);
  } finally {
    metrics.close();
  }
});

test('model labels of departed agents are freed: a later model gets its own label, not "other", and their histogram series go', async () => {
  const bus = new EventBus();
  let live: Agent[] = [agent('junk'), agent('steady')];
  const metrics = createMetrics({
    bus,
    ledger: new MemoryLedger({ sweepIntervalMs: 0 }),
    agents: { list: () => live },
    policies: new PolicyStore({ governanceDir: null }),
  });
  try {
    callOf(bus, 'steady', 'gpt-4o');
    for (let index = 0; index < 600; index++) callOf(bus, 'junk', `typo-${index}`);
    callOf(bus, 'steady', 'brand-new-model');
    assert.match(await metrics.render(), /^tollgate_requests_total\{agent="steady",model="other",status="200"\} 1$/m, 'the label room is full');
    live = [agent('steady')];
    metrics.forgetDeparted();
    metrics.forgetDeparted();
    callOf(bus, 'steady', 'brand-new-model');
    const text = await metrics.render();
    assert.match(text, /^tollgate_requests_total\{agent="steady",model="openai\/brand-new-model",status="200"\} 1$/m);
    assert.match(text, /^tollgate_requests_total\{agent="steady",model="openai\/gpt-4o",status="200"\} 1$/m);
    assert.doesNotMatch(text, /typo-/, 'no series, counter or histogram, of the junk models is left');
  } finally {
    metrics.close();
  }
});
