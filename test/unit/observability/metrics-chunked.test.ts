// /metrics with thousands of agents: the scrape yields to the event loop, and its budget gauges are what prom-client rendered.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Gauge, Registry } from 'prom-client';
import type { Agent } from '../../../src/auth/agent.ts';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import type { Ledger, LimitCheck } from '../../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { microsToUsd } from '../../../src/pricing/money.ts';
import { AGENTS_PER_CHUNK } from '../../../src/observability/budget-gauges.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { SERIES_PER_CHUNK } from '../../../src/observability/exposition.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';
import { parsePrometheusText } from '../../helpers/prometheus-text.ts';
import { seededRandom } from '../../helpers/random.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

const BUDGET_FAMILIES = ['tollgate_budget_limit', 'tollgate_budget_used', 'tollgate_budget_remaining'];
const ODD_IDS = ['q"uote', 'back\\slash', 'ünï-агент'];

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

interface Fleet {
  readonly agents: Agent[];
  readonly ledger: MemoryLedger;
  readonly policies: PolicyStore;
}

/** `count` agents with varied budgets (usd, requests, tokens, concurrency, model-scoped), some spend and some held. */
async function fleet(input: { count: number; seed: number }): Promise<Fleet> {
  const random = seededRandom(input.seed);
  const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
  const agents: Agent[] = [];
  const windows = ['1m', '1h', '1d', '7d'];
  for (let index = 0; index < input.count; index++) {
    const id = index < ODD_IDS.length ? ODD_IDS[index] : `agent-${index}`;
    const window = windows[index % windows.length];
    const budget: Record<string, unknown> = {
      limit_usd: Math.max(1, Math.floor(random() * 100_000_000)) / 1e6,
      max_requests: 1 + Math.floor(random() * 1000),
      window,
    };
    if (index % 3 === 0) budget.max_total_tokens = 1 + Math.floor(random() * 1e7);
    if (index % 5 === 0) budget.max_concurrent = 1 + Math.floor(random() * 8);
    if (index % 7 === 0) budget.limits = [{ limit_usd: 50, window: '1d', models: ['openai/*'] }];
    if (index % 11 === 10) budget.limit_usd = 'not a number'; // an unusable policy: no gauges for this agent
    agents.push(agent(id, budget));
    const scopes = [`agent:${id}`, ...(index % 7 === 0 ? [`agent:${id}|model:openai/*`] : [])];
    await ledger.record({
      scopes,
      amounts: { usd_micros: Math.floor(random() * 3_000_000), requests: Math.floor(random() * 50), total_tokens: Math.floor(random() * 90_000) },
      at: Date.now(),
    });
    if (index % 4 === 0)
      await ledger.reserve({
        id: `r-${index}`,
        scopes,
        amounts: { usd_micros: 1 + Math.floor(random() * 100_000), requests: 1 },
        checks: [],
        leaseMs: 600_000,
      });
  }
  return { agents, ledger, policies: new PolicyStore({ governanceDir: null }) };
}

/** The budget gauges as the previous implementation produced them: prom-client gauges set from one ledger read. */
async function promClientBudgetText(input: Fleet): Promise<string> {
  const registry = new Registry();
  const labelNames = ['agent', 'limit', 'metric', 'window'];
  const limit = new Gauge({ name: 'tollgate_budget_limit', help: 'Budget limit (USD for usd metrics, counts otherwise).', labelNames, registers: [registry] });
  const used = new Gauge({
    name: 'tollgate_budget_used',
    help: 'Usage in the window, settled plus reserved (USD for usd metrics).',
    labelNames,
    registers: [registry],
  });
  const remaining = new Gauge({
    name: 'tollgate_budget_remaining',
    help: 'What is left of the limit (USD for usd metrics).',
    labelNames,
    registers: [registry],
  });
  const rows: { agent: string; limit: string; metric: string; window: string }[] = [];
  const checks: LimitCheck[] = [];
  for (const agent of input.agents) {
    const policy = input.policies.effective(agent, Date.now());
    if (policy.kind !== 'policy') continue;
    for (const spec of policy.limits) {
      rows.push({ agent: agent.id, limit: spec.id, metric: spec.metric === 'usd_micros' ? 'usd' : spec.metric, window: spec.window || 'none' });
      checks.push({ id: spec.id, scope: spec.scope, metric: spec.metric, windowMs: spec.windowMs, limit: spec.limit });
    }
  }
  (await input.ledger.standing(checks)).forEach((standing, index) => {
    const labels = rows[index];
    const unit = labels.metric === 'usd' ? microsToUsd : (value: number) => value;
    limit.set(labels, unit(standing.limit));
    used.set(labels, unit(standing.used + standing.reserved));
    remaining.set(labels, unit(standing.remaining));
  });
  return registry.metrics();
}

/** The budget families' blocks of a whole exposition text, laid out as a registry of just them would be. */
function budgetBlocks(text: string): string {
  const blocks = text.split('\n\n').filter((block) => BUDGET_FAMILIES.some((name) => block.startsWith(`# HELP ${name} `)));
  return `${blocks.join('\n\n')}\n`;
}

/** A ledger that counts its reads, optionally failing the `failOn`-th. */
function watched(inner: Ledger, options: { failOn?: number; onStanding?: (checks: readonly LimitCheck[]) => void } = {}): Ledger & { readonly reads: number } {
  let reads = 0;
  return {
    standing: async (checks: readonly LimitCheck[]) => {
      reads++;
      options.onStanding?.(checks);
      if (reads === options.failOn) throw new Error('ledger down');
      return inner.standing(checks);
    },
    health: async () => (options.failOn === undefined ? inner.health() : { ok: false, kind: 'redis', detail: 'down' }),
    get reads() {
      return reads;
    },
  } as unknown as Ledger & { readonly reads: number };
}

describe('metrics with thousands of agents', () => {
  it('yields to the event loop while it scrapes: reading standings a chunk of agents a turn, and writing the text', async () => {
    const input = await fleet({ count: 3_000, seed: 1 });
    let turn = 0;
    let scraping = true;
    const tick = () => {
      turn++;
      if (scraping) setImmediate(tick);
    };
    const readTurns: number[] = [];
    const ledger = watched(input.ledger, {
      onStanding: (checks) => {
        readTurns.push(turn);
        assert.ok(checks.length <= AGENTS_PER_CHUNK * 5, `${checks.length} checks in one read`);
      },
    });
    const metrics = createMetrics({ bus: new EventBus(), ledger, agents: { list: () => input.agents }, policies: input.policies });
    const rendered = metrics.render();
    let ranBeforeTheScrapeEnded = false;
    setImmediate(() => (ranBeforeTheScrapeEnded = true));
    setImmediate(tick);
    const text = await rendered;
    scraping = false;
    assert.ok(ranBeforeTheScrapeEnded, 'a callback queued after the scrape started ran before it ended');
    assert.equal(readTurns.length, Math.ceil(3_000 / AGENTS_PER_CHUNK), 'one ledger read per chunk of agents');
    assert.equal(new Set(readTurns).size, readTurns.length, 'no two ledger reads in the same turn of the event loop');
    const series = text.split('\n').filter((line) => /^tollgate_budget_(limit|used|remaining)\{/.test(line)).length;
    assert.ok(series > 3 * 2 * 3_000, `${series} budget series`);
    assert.ok(turn >= readTurns.length - 1 + Math.floor(series / SERIES_PER_CHUNK), `${turn} turns of the event loop during the scrape`);
    metrics.close();
    await input.ledger.close();
  });

  for (const seed of [2, 9]) {
    it(`seed ${seed}: the budget gauges are, series for series, what prom-client rendered from the same standings, and the text parses`, async () => {
      const input = await fleet({ count: 2_500, seed });
      const metrics = createMetrics({
        bus: new EventBus(),
        ledger: input.ledger,
        agents: { list: () => input.agents },
        policies: input.policies,
        history: { pendingEntries: 2 },
      });
      const text = await metrics.render();
      assert.equal(budgetBlocks(text), await promClientBudgetText(input));
      assert.equal((await metrics.renderPieces()).join(''), text, 'the pieces make the same text');
      const families = parsePrometheusText(text);
      for (const name of BUDGET_FAMILIES) assert.equal(families.get(name)?.type, 'gauge');
      assert.equal(families.get('tollgate_requests_total')?.type, 'counter');
      assert.equal(families.get('tollgate_upstream_latency_seconds')?.type, 'histogram');
      const agents = new Set(families.get('tollgate_budget_remaining')?.samples.map((sample) => sample.labels.agent));
      assert.ok(agents.has('q"uote') && agents.has('back\\slash') && agents.has('ünï-агент'), 'odd agent ids survive escaping');
      assert.ok(!agents.has('agent-10') && agents.has('agent-9'), 'an unusable policy has no gauges');
      assert.equal(families.get('tollgate_ledger_up')?.samples[0]?.value, '1');
      assert.equal(families.get('tollgate_history_pending_entries')?.samples[0]?.value, '2');
      metrics.close();
      await input.ledger.close();
    });
  }

  it('a ledger failing part-way leaves out every budget gauge (not the agents read so far) and says so in ledger_up', async () => {
    const input = await fleet({ count: 1_000, seed: 4 });
    const ledger = watched(input.ledger, { failOn: 3 });
    const bus = new EventBus();
    const metrics = createMetrics({ bus, ledger, agents: { list: () => input.agents }, policies: input.policies });
    bus.emit(rawEvent({ type: 'budget_decision', claw_id: 'agent-5', model: null, intervention: null, outcome: 'allow' }));
    const text = await metrics.render();
    assert.equal(ledger.reads, 3, 'stops reading at the failure');
    const families = parsePrometheusText(text);
    for (const name of BUDGET_FAMILIES) assert.deepEqual(families.get(name)?.samples, [], `${name}: no series`);
    assert.match(text, /^tollgate_ledger_up\{kind="redis"\} 0$/m);
    assert.match(text, /^tollgate_budget_decisions_total\{agent="agent-5",outcome="allow"\} 1$/m, 'the counters are still there');
    metrics.close();
    await input.ledger.close();
  });

  it('overlapping scrapes share one chunked rendering: one ledger read per chunk, every scrape the same full text', async () => {
    const input = await fleet({ count: 1_500, seed: 6 });
    const ledger = watched(input.ledger);
    const metrics = createMetrics({ bus: new EventBus(), ledger, agents: { list: () => input.agents }, policies: input.policies });
    const started = [metrics.render(), metrics.render()];
    // queued while the first rendering is still reading its chunks (it takes one turn of the event loop each)
    const later = new Promise<string[]>((resolve) =>
      setImmediate(() => resolve(Promise.all([metrics.render(), metrics.renderPieces().then((pieces) => pieces.join(''))]))),
    );
    const texts = [...(await Promise.all(started)), ...(await later)];
    assert.equal(ledger.reads, Math.ceil(1_500 / AGENTS_PER_CHUNK), 'the ledger was read once for all of them');
    for (const text of texts) assert.equal(text, texts[0]);
    assert.equal(budgetBlocks(texts[0]), await promClientBudgetText(input));
    metrics.close();
    await input.ledger.close();
  });
});
