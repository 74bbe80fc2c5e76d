// GET /metrics on the UI port with thousands of agents: the text sent piece by piece arrives whole, with its byte length.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { CostTotals } from '../../../src/admin/cost-totals.ts';
import { createUiServer } from '../../../src/admin/server.ts';
import type { Agent } from '../../../src/auth/agent.ts';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';
import { parsePrometheusText } from '../../helpers/prometheus-text.ts';

function agent(id: string): Agent {
  return {
    id,
    secret: 's',
    pod: 'p',
    service: id,
    type: 't',
    timezone: '',
    dir: `/ctx/${id}`,
    metadataBudget: { limit_usd: 2.5, max_requests: 100, max_total_tokens: 50_000, window: '1h' },
    contextOverride: undefined,
    historyTokens: [],
  };
}

describe('GET /metrics', () => {
  it('sends the whole text in pieces, with a content-length in bytes (non-ASCII labels), and HEAD the same length', async () => {
    const agents = Array.from({ length: 2_000 }, (_, index) => agent(index % 100 === 0 ? `агент-${index}-ü` : `agent-${index}`));
    const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
    for (const { id } of agents)
      await ledger.record({ scopes: [`agent:${id}`], amounts: { usd_micros: 1_234_567, requests: 3, total_tokens: 999 }, at: Date.now() });
    const bus = new EventBus();
    const policies = new PolicyStore({ governanceDir: null });
    const directory = { list: () => agents, get: (id: string) => agents.find((item) => item.id === id), authenticate: () => null };
    const metrics = createMetrics({ bus, ledger, agents: directory, policies });
    const costs = { agents: () => ({}) } as unknown as CostTotals;
    const server = createUiServer({ config: { uiToken: null, pod: 'p' }, agents: directory, policies, ledger, bus, historyDir: null, costs, metrics });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
      const response = await fetch(url);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const body = await response.text();
      assert.equal(Number(response.headers.get('content-length')), Buffer.byteLength(body));
      assert.notEqual(Buffer.byteLength(body), body.length, 'the labels are not all ASCII');
      const pieces = await metrics.renderPieces();
      assert.ok(pieces.length > 10, `${pieces.length} pieces`);
      assert.equal(body, pieces.join(''), 'every piece, in order');
      assert.equal(parsePrometheusText(body).get('tollgate_budget_remaining')?.samples.length, 6_000);
      assert.match(body, /^tollgate_budget_used\{agent="агент-100-ü",limit="agent:агент-100-ü\/usd\/1h",metric="usd",window="1h"\} 1\.234567$/m);
      const head = await fetch(url, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), response.headers.get('content-length'));
      assert.equal(await head.text(), '');
    } finally {
      await new Promise((resolve) => server.close(resolve));
      metrics.close();
      await ledger.close();
    }
  });
});
