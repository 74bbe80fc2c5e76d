// CostTotals: seeding from history, live events, and never counting a call twice when both sources see it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CostTotals, recordFromEntry, recordFromEvent } from '../../../src/admin/cost-totals.ts';
import { costsApiBody, pricingStatus, renderCostsApi } from '../../../src/admin/costs-api.ts';
import type { HistoryEntry } from '../../../src/history/entry.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

const T0 = Date.parse('2026-03-01T12:00:00Z');

function entry(fields: {
  ts: string;
  agent?: string;
  requestId?: string;
  prompt?: number;
  completion?: number;
  costMicros?: number;
  reportedUsd?: number;
  model?: string;
}): HistoryEntry {
  return {
    version: 1,
    id: `hist1_${fields.ts}`,
    ts: fields.ts,
    claw_id: fields.agent ?? 'a',
    path: '/v1/chat/completions',
    requested_model: `openai/${fields.model ?? 'gpt-4o'}`,
    effective_provider: 'openai',
    effective_model: fields.model ?? 'gpt-4o',
    status_code: 200,
    stream: false,
    response: { format: 'json', json: {} },
    usage: {
      ...(fields.prompt !== undefined ? { prompt_tokens: fields.prompt } : {}),
      ...(fields.completion !== undefined ? { completion_tokens: fields.completion } : {}),
      ...(fields.costMicros !== undefined ? { cost_micros: fields.costMicros, reported_cost_usd: fields.costMicros / 1e6 } : {}),
      ...(fields.reportedUsd !== undefined ? { reported_cost_usd: fields.reportedUsd } : {}),
    },
    ...(fields.requestId ? { request_id: fields.requestId } : {}),
  };
}

function responseEvent(fields: { requestId?: string; agent?: string; tokensIn?: number; tokensOut?: number; cached?: number; costMicros?: number }) {
  return {
    type: 'response' as const,
    claw_id: fields.agent ?? 'a',
    model: 'openai/gpt-4o',
    intervention: null,
    request_id: fields.requestId,
    path: '/v1/chat/completions',
    provider: 'openai',
    upstream_model: 'gpt-4o',
    status_code: 200,
    ...(fields.tokensIn !== undefined ? { tokens_in: fields.tokensIn } : {}),
    ...(fields.tokensOut !== undefined ? { tokens_out: fields.tokensOut } : {}),
    ...(fields.cached !== undefined ? { cached_tokens: fields.cached } : {}),
    ...(fields.costMicros !== undefined ? { cost_micros: fields.costMicros } : {}),
  };
}

/** A scan that yields the given entries, pausing before each so a test can emit events in between. */
function controlledScan(entries: HistoryEntry[], beforeEach?: (index: number) => void) {
  return async function* scan(): AsyncGenerator<HistoryEntry> {
    for (let index = 0; index < entries.length; index++) {
      await Promise.resolve();
      beforeEach?.(index);
      yield entries[index];
    }
  };
}

describe('CostTotals', () => {
  it('seeds from history entries with usage and adds live events', async () => {
    const bus = new EventBus();
    const totals = new CostTotals({
      bus,
      historyDir: '/unused',
      now: () => T0,
      scanHistory: controlledScan([
        entry({ ts: '2026-03-01T11:00:00Z', prompt: 10, completion: 5, costMicros: 100 }),
        entry({ ts: '2026-03-01T11:01:00Z', prompt: 3, completion: 4, model: 'mystery' }),
        entry({ ts: '2026-03-01T11:02:00Z' }), // no usage: not a cost record (as cllama's accumulator)
      ]),
    });
    assert.equal(totals.ready, false);
    await totals.start();
    assert.equal(totals.ready, true);
    bus.emit(rawEvent(responseEvent({ tokensIn: 7, tokensOut: 1, cached: 3, costMicros: 50 })));
    bus.emit({ type: 'error', claw_id: 'a', model: 'x', intervention: null, status_code: 0, error: 'ledger hiccup' }); // no route, no usage
    const a = totals.agent('a')!;
    assert.equal(a.requests, 3);
    assert.equal(a.costMicros, 150);
    assert.equal(a.unpricedRequests, 1);
    assert.deepEqual(
      a.models.map((m) => `${m.provider}/${m.model}:${m.requests}:${m.inputTokens}`),
      ['openai/gpt-4o:2:20', 'openai/mystery:1:3'],
    );
    totals.stop();
  });

  it('ignores history entries that started after the subscription (their events count them)', async () => {
    const bus = new EventBus();
    const totals = new CostTotals({
      bus,
      historyDir: '/unused',
      now: () => T0,
      scanHistory: controlledScan([entry({ ts: '2026-03-01T12:00:00.000Z', prompt: 1, completion: 1, costMicros: 9, requestId: 'late' })]),
    });
    await totals.start();
    assert.equal(totals.agent('a'), null);
    totals.stop();
  });

  it('counts a call in flight at start-up once, whichever side sees it first', async () => {
    // event first (during the scan), then its history entry
    const bus = new EventBus();
    const first = new CostTotals({
      bus,
      historyDir: '/unused',
      now: () => T0,
      scanHistory: controlledScan([entry({ ts: '2026-03-01T11:59:59Z', prompt: 1, completion: 2, costMicros: 30, requestId: 'r1' })], () => {
        bus.emit(rawEvent(responseEvent({ requestId: 'r1', tokensIn: 1, tokensOut: 2, costMicros: 30 })));
      }),
    });
    await first.start();
    assert.equal(first.agent('a')!.requests, 1);
    first.stop();

    // history entry first (scanned), then its event after the scan
    const bus2 = new EventBus();
    const second = new CostTotals({
      bus: bus2,
      historyDir: '/unused',
      now: () => T0,
      scanHistory: controlledScan([entry({ ts: '2026-03-01T11:59:59Z', prompt: 1, completion: 2, costMicros: 30, requestId: 'r2' })]),
    });
    await second.start();
    bus2.emit(rawEvent(responseEvent({ requestId: 'r2', tokensIn: 1, tokensOut: 2, costMicros: 30 })));
    bus2.emit(rawEvent(responseEvent({ requestId: 'r3', tokensIn: 1, tokensOut: 2, costMicros: 30 })));
    assert.equal(second.agent('a')!.requests, 2, 'r2 once, r3 once');
    second.stop();
  });

  it('reports a failing scan and is ready anyway', async () => {
    const messages: string[] = [];
    const totals = new CostTotals({
      bus: new EventBus(),
      historyDir: '/unused',
      onError: (message) => messages.push(message),
      scanHistory: async function* () {
        throw new Error('EACCES');
      },
    });
    await totals.start();
    assert.equal(totals.ready, true);
    assert.match(messages[0], /EACCES/);
    totals.stop();
  });

  it('turns events and entries into records: cache tokens are input, unknown price is null, cllama USD is converted', () => {
    assert.deepEqual(recordFromEvent(responseEvent({ tokensIn: 5, cached: 2, tokensOut: 1 }) as never), {
      agent: 'a',
      provider: 'openai',
      model: 'gpt-4o',
      inputTokens: 7,
      outputTokens: 1,
      costMicros: null,
    });
    assert.equal(recordFromEvent({ ...responseEvent({}), type: 'response', ts: '' } as never), null, 'no usage at all');
    assert.equal(recordFromEvent({ ...responseEvent({ tokensIn: 1 }), type: 'intervention', ts: '' } as never), null);
    assert.deepEqual(recordFromEntry(entry({ ts: '2026-03-01T11:00:00Z', reportedUsd: 0.5 })), {
      agent: 'a',
      provider: 'openai',
      model: 'gpt-4o',
      inputTokens: 0,
      outputTokens: 0,
      costMicros: 500_000,
    });
    assert.equal(recordFromEntry(entry({ ts: '2026-03-01T11:00:00Z' })), null);
  });
});

describe('/costs/api body', () => {
  it('is the empty object with no records', () => {
    assert.equal(renderCostsApi([]), '{\n  "total_cost_usd": 0,\n  "total_requests": 0,\n  "unpriced_requests": 0,\n  "agents": {}\n}\n');
  });

  it('sums in micro-dollars, sorts agents and models, and names the pricing status', async () => {
    const bus = new EventBus();
    const totals = new CostTotals({ bus, historyDir: null, scanHistory: controlledScan([]) });
    await totals.start();
    totals.record({ agent: 'zed', provider: 'openai', model: 'gpt-4o', inputTokens: 1, outputTokens: 1, costMicros: 100_001 });
    totals.record({ agent: 'zed', provider: 'openai', model: 'gpt-4o', inputTokens: 1, outputTokens: 1, costMicros: null });
    totals.record({ agent: 'amy', provider: 'openai', model: 'b', inputTokens: 1, outputTokens: 1, costMicros: 200_002 });
    totals.record({ agent: 'amy', provider: 'anthropic', model: 'z', inputTokens: 1, outputTokens: 1, costMicros: null });
    const body = costsApiBody(totals.agents()) as { total_cost_usd: number; agents: Record<string, { models: { model: string; pricing_status: string }[] }> };
    assert.equal(body.total_cost_usd, 0.300003, 'no float drift: 0.100001 + 0.200002');
    assert.deepEqual(Object.keys(body.agents), ['amy', 'zed']);
    assert.deepEqual(
      body.agents.amy.models.map((m) => m.model),
      ['z', 'b'],
      'sorted by provider/model',
    );
    assert.deepEqual(
      body.agents.zed.models.map((m) => m.pricing_status),
      ['partial'],
    );
    assert.equal(pricingStatus({ pricedRequests: 0, unpricedRequests: 2 }), 'unpriced');
    assert.equal(pricingStatus({ pricedRequests: 2, unpricedRequests: 0 }), 'priced');
    totals.stop();
  });
});
