// Metrics scraped by several scrapers at once over a slow ledger: every scrape shows every budget gauge and ledger_up.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Agent } from '../../../src/auth/agent.ts';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import type { Ledger } from '../../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';
import { seededRandom } from '../../helpers/random.ts';

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

describe('metrics under overlapping scrapes', () => {
  for (const seed of [1, 7, 42]) {
    it(`seed ${seed}: no scrape renders while another has reset the gauges`, async () => {
      const random = seededRandom(seed);
      const inner = new MemoryLedger({ sweepIntervalMs: 0 });
      const slow = () => new Promise((resolve) => setTimeout(resolve, 1 + Math.floor(random() * 20)));
      const ledger = {
        standing: async (checks: Parameters<Ledger['standing']>[0]) => {
          await slow();
          return inner.standing(checks);
        },
        health: async () => {
          await slow();
          return inner.health();
        },
      } as unknown as Ledger;
      const agents = Array.from({ length: 4 }, (_, index) => agent(`a${index}`, { limit_usd: 2, max_requests: 10, window: '1h' }));
      const bus = new EventBus();
      const metrics = createMetrics({ bus, ledger, agents: { list: () => agents }, policies: new PolicyStore({ governanceDir: null }) });
      const scrapes = Array.from({ length: 24 }, async () => {
        await slow();
        return metrics.render();
      });
      for (const text of await Promise.all(scrapes)) {
        assert.equal(text.match(/^tollgate_budget_remaining\{/gm)?.length, 8, 'every limit of every agent');
        assert.equal(text.match(/^tollgate_ledger_up\{kind="memory"\} 1$/gm)?.length, 1);
      }
      metrics.close();
      await inner.close();
    });
  }
});
