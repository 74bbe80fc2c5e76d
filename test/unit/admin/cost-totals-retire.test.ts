// Cost totals of agents removed from the registry are folded into one retired sum: per-agent rows stay bounded by the live fleet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CostTotals, MAX_MODELS_PER_AGENT } from '../../../src/admin/cost-totals.ts';
import { costsApiBody } from '../../../src/admin/costs-api.ts';
import type { HistoryEntry } from '../../../src/history/entry.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

function call(bus: EventBus, agent: string, model = 'gpt-4o'): void {
  bus.emit(
    rawEvent({
      type: 'response',
      claw_id: agent,
      model: `openai/${model}`,
      intervention: null,
      path: '/v1/chat/completions',
      provider: 'openai',
      upstream_model: model,
      status_code: 200,
      tokens_in: 10,
      tokens_out: 5,
      cost_micros: 100,
    }),
  );
}

function scanOf(entries: HistoryEntry[]) {
  return async function* scan(): AsyncGenerator<HistoryEntry> {
    yield* entries;
  };
}

function historyEntry(agent: string): HistoryEntry {
  return {
    version: 1,
    id: `hist1_${agent}`,
    ts: '2026-03-01T11:00:00Z',
    claw_id: agent,
    path: '/v1/chat/completions',
    requested_model: 'openai/gpt-4o',
    effective_provider: 'openai',
    effective_model: 'gpt-4o',
    status_code: 200,
    stream: false,
    response: { format: 'json', json: {} },
    usage: { prompt_tokens: 10, completion_tokens: 5, cost_micros: 100, reported_cost_usd: 0.0001 },
  };
}

test('3,000 agents created, called and deleted: their rows go, the grand totals keep their spend', async () => {
  const bus = new EventBus();
  const live = new Set<string>(['keeper']);
  const totals = new CostTotals({ bus, historyDir: null, scanHistory: scanOf([]), isAgent: (id) => live.has(id) });
  await totals.start();
  try {
    call(bus, 'keeper');
    for (let wave = 0; wave < 3; wave++) {
      const batch = Array.from({ length: 1000 }, (_, index) => `w${wave}-${index}`);
      for (const agent of batch) live.add(agent);
      for (const agent of batch) call(bus, agent);
      for (const agent of batch) live.delete(agent);
      totals.retireDeparted();
    }
    totals.retireDeparted();
    assert.deepEqual(
      totals.agents().map((agent) => agent.agent),
      ['keeper'],
    );
    assert.deepEqual(totals.retired(), {
      costMicros: 300_000,
      requests: 3000,
      pricedRequests: 3000,
      unpricedRequests: 0,
      inputTokens: 30_000,
      outputTokens: 15_000,
    });
    const body = costsApiBody(totals.agents(), totals.retired()) as { total_requests: number; total_cost_usd: number; agents: Record<string, unknown> };
    assert.equal(body.total_requests, 3001);
    assert.equal(body.total_cost_usd, 0.3001);
    assert.deepEqual(Object.keys(body.agents), ['keeper']);
  } finally {
    totals.stop();
  }
});

test('an agent missing from one check only keeps its row; history of agents gone at start is seeded into the retired sum', async () => {
  const bus = new EventBus();
  const live = new Set<string>(['flaky', 'present']);
  const totals = new CostTotals({
    bus,
    historyDir: '/unused',
    scanHistory: scanOf([historyEntry('present'), historyEntry('deleted-long-ago')]),
    isAgent: (id) => live.has(id),
    now: () => Date.parse('2026-03-01T12:00:00Z'),
  });
  await totals.start();
  try {
    assert.deepEqual(
      totals.agents().map((agent) => agent.agent),
      ['present'],
    );
    assert.equal(totals.retired().requests, 1);
    call(bus, 'flaky');
    live.delete('flaky');
    totals.retireDeparted();
    live.add('flaky');
    totals.retireDeparted();
    live.delete('flaky');
    totals.retireDeparted();
    assert.equal(totals.agent('flaky')?.requests, 1);
    totals.retireDeparted();
    assert.equal(totals.agent('flaky'), null);
    assert.equal(totals.retired().requests, 2);
  } finally {
    totals.stop();
  }
});

test('an agent making up model names keeps at most MAX_MODELS_PER_AGENT rows, the rest summed as other', async () => {
  const bus = new EventBus();
  const totals = new CostTotals({ bus, historyDir: null, scanHistory: scanOf([]) });
  await totals.start();
  try {
    for (let index = 0; index < MAX_MODELS_PER_AGENT + 300; index++) call(bus, 'inventive', `made-up-${index}`);
    const agent = totals.agent('inventive')!;
    assert.equal(agent.models.length, MAX_MODELS_PER_AGENT + 1);
    assert.equal(agent.requests, MAX_MODELS_PER_AGENT + 300);
    assert.equal(agent.models.find((model) => model.model === 'other')?.requests, 300);
  } finally {
    totals.stop();
  }
});
