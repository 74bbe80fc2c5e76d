// Rebuilding a ledger from session-history entries: amounts per entry, scopes, retention, unusable entries.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { historyAmounts, rebuildFromHistory, type HistoryUsageEntry } from '../../../src/ledger/rebuild.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import type { LimitCheck, Metric } from '../../../src/ledger/ledger.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-29T12:00:00.000Z');

async function* entries(list: HistoryUsageEntry[]): AsyncGenerator<HistoryUsageEntry> {
  for (const entry of list) yield entry;
}

const window = (scope: string, metric: Metric): LimitCheck => ({ id: `${scope}/${metric}`, scope, metric, windowMs: 7 * DAY, limit: 1e12 });

describe('rebuildFromHistory', () => {
  it('turns each entry into one record on the scopes it belongs to', async () => {
    const ledger = new MemoryLedger({ now: () => NOW, sweepIntervalMs: 0 });
    const result = await rebuildFromHistory({
      scan: entries([
        { claw_id: 'a', ts: '2026-11-29T11:00:00.000Z', usage: { cost_micros: 750, prompt_tokens: 100, completion_tokens: 50 } },
        { claw_id: 'a', ts: '2026-11-29T11:30:00Z', usage: { reported_cost_usd: 0.5 } },
        { claw_id: 'b', ts: '2026-11-29T10:00:00.000Z', usage: {} },
        { claw_id: 'b', ts: '2026-10-01T10:00:00.000Z', usage: { cost_micros: 1 } },
        { claw_id: 'b', ts: 'yesterday', usage: { cost_micros: 1 } },
        { claw_id: 'ghost', ts: '2026-11-29T10:00:00.000Z', usage: { cost_micros: 1 } },
      ]),
      ledger,
      now: NOW,
      retentionMs: 35 * DAY,
      scopesFor: (entry) => (entry.claw_id === 'ghost' ? [] : [`agent:${entry.claw_id}`, 'shared:team']),
    });
    assert.deepEqual([result.records, result.skipped, result.expired], [3, 2, 1]);
    const [usd, requests, unknown, input, total] = await ledger.standing([
      window('agent:a', 'usd_micros'),
      window('shared:team', 'requests'),
      window('shared:team', 'unknown_cost_requests'),
      window('agent:a', 'input_tokens'),
      window('agent:a', 'total_tokens'),
    ]);
    assert.equal(usd.used, 500_750);
    assert.equal(requests.used, 3);
    assert.equal(unknown.used, 1);
    assert.equal(input.used, 100);
    assert.equal(total.used, 150);
  });

  it('prefers cost_micros over the cllama USD field and ignores nonsense numbers', () => {
    assert.deepEqual(historyAmounts({ claw_id: 'a', ts: '', usage: { cost_micros: 12, reported_cost_usd: 9 } }), { requests: 1, usd_micros: 12 });
    assert.deepEqual(historyAmounts({ claw_id: 'a', ts: '', usage: { reported_cost_usd: 0.00075 } }), { requests: 1, usd_micros: 750 });
    assert.deepEqual(historyAmounts({ claw_id: 'a', ts: '', usage: { cost_micros: 0 } }), { requests: 1 });
    assert.deepEqual(historyAmounts({ claw_id: 'a', ts: '', usage: { reported_cost_usd: -1, prompt_tokens: Number.NaN } }), {
      requests: 1,
      unknown_cost_requests: 1,
    });
    assert.deepEqual(historyAmounts({ claw_id: 'a', ts: '' }), { requests: 1, unknown_cost_requests: 1 });
  });
});
