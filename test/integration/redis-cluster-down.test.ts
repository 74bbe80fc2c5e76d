// A Cluster master marked failed (no replica) under the proxy: full coverage yes (CLUSTERDOWN everywhere) and no.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_FORWARD_HEADERS } from '../helpers/harness.ts';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { freePort, startProxyProcess, type RunningProxy } from '../helpers/process.ts';
import { ask } from '../helpers/chat-status.ts';
import { PrivateCluster, waitFor, type PrivateClusterOptions } from '../unit/ledger/redis-test-support.ts';
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.ts';
import { ledgerNamespace } from '../../src/ledger/redis/layout.ts';

type Mode = 'open' | 'closed';
const HOUR = 3_600_000;
/** Calls each agent makes while the master is marked failed, one after the other. */
const CALLS_DOWN = 3;
/** Calls each agent then makes at once (with `burst`). */
const BURST = 4;

/**
 * A private Cluster (node timeout 1 s), a proxy per fail mode on it, and `agents` (agent id → fail mode). While the
 * master at `lost` is marked failed each agent makes CALLS_DOWN calls one after the other (and with `burst`, BURST
 * more at once); afterwards the Cluster heals. Every call's status and wait (ms, reported only) are kept, per agent.
 */
function onFailedMaster(input: {
  cluster: PrivateClusterOptions;
  burst?: boolean;
  agents: (portOf: (agent: string) => Promise<number>, home: number, ports: readonly number[]) => Promise<{ agents: Record<string, Mode>; lost: number }>;
}) {
  const state = {
    fake: null as FakeUpstream | null,
    cluster: null as PrivateCluster | null,
    root: '',
    ledger: null as RedisLedger | null,
    lost: 0,
    agents: {} as Record<string, Mode>,
    proxies: new Map<Mode, RunningProxy>(),
    statuses: new Map<string, number[]>(),
    waits: new Map<string, number[]>(),
    bursts: new Map<string, { status: number; ms: number }[]>(),
    health: new Map<Mode, { status: number; body: { ok: boolean; ledger: { ok: boolean; detail?: string } } }>(),
  };
  const prefix = `cdown-${process.pid}-${input.cluster.requireFullCoverage === false ? 'no' : 'yes'}`;
  before(async () => {
    state.fake = await startFakeUpstream({ delayMs: 20 });
    const cluster = await PrivateCluster.start({ nodeTimeoutMs: 1000, ...input.cluster });
    state.cluster = cluster;
    const home = await cluster.portOf(`${ledgerNamespace(prefix, null)}layout`);
    const placed = await input.agents((agent) => cluster.portOf(`${ledgerNamespace(prefix, `agent:${agent}`)}layout`), home, cluster.ports);
    state.agents = placed.agents;
    state.lost = placed.lost;
    state.root = writeRoot(state.fake.url, Object.keys(state.agents));
    for (const mode of new Set(Object.values(state.agents))) {
      const env = {
        CLAW_CONTEXT_ROOT: join(state.root, 'context'),
        CLAW_AUTH_DIR: join(state.root, 'auth'),
        CLAW_SESSION_HISTORY_DIR: join(state.root, 'history'),
        TOLLGATE_LEDGER: 'redis',
        REDIS_URL: cluster.url.replace(/^redis:/, 'redis+cluster:'),
        TOLLGATE_REDIS_PREFIX: prefix,
        CLLAMA_BUDGET_FAIL_MODE: mode,
      };
      state.proxies.set(mode, await startProxyProcess({ port: await freePort(), env }));
    }
    state.ledger = await createRedisLedger({ url: cluster.url, cluster: true, keyPrefix: prefix, groups: () => ({ groupOf: (scope) => scope }) });
    const proxyOf = (agent: string) => state.proxies.get(state.agents[agent]) as RunningProxy;
    for (const agent of Object.keys(state.agents)) assert.equal(await ask(proxyOf(agent), agent), 200, `${agent}: a call passes before`);
    try {
      await cluster.pauseFully(state.lost);
      await cluster.waitUntilFailed(state.lost);
      const others = cluster.ports.filter((port) => port !== state.lost);
      const expected = input.cluster.requireFullCoverage === false ? 'ok' : 'fail';
      for (const port of others) await waitFor(`cluster_state:${expected} on ${port}`, async () => (await cluster.stateOn(port)) === expected);
      for (const agent of Object.keys(state.agents)) {
        for (let call = 0; call < CALLS_DOWN; call++) {
          const sent = performance.now();
          state.statuses.set(agent, [...(state.statuses.get(agent) ?? []), await ask(proxyOf(agent), agent)]);
          state.waits.set(agent, [...(state.waits.get(agent) ?? []), Math.round(performance.now() - sent)]);
        }
        if (!input.burst) continue;
        const sent = performance.now();
        const burst = Array.from({ length: BURST }, async () => ({ status: await ask(proxyOf(agent), agent), ms: Math.round(performance.now() - sent) }));
        state.bursts.set(agent, await Promise.all(burst));
      }
      for (const [mode, proxy] of state.proxies) {
        const response = await fetch(`${proxy.url}/health`);
        state.health.set(mode, { status: response.status, body: (await response.json()) as never });
      }
    } finally {
      cluster.resumeAll();
    }
    await cluster.waitUntilOk();
  });
  after(async () => {
    await state.ledger?.close();
    await Promise.all([...state.proxies.values()].map((proxy) => proxy.stop()));
    await state.cluster?.stop();
    await state.fake?.close();
    if (state.root) rmSync(state.root, { recursive: true, force: true });
  });
  return state;
}

/** Polls until the ledger holds what the agent's history charged, each call once, nothing held; asserts it. */
async function chargedOnce(ledger: RedisLedger, root: string, agent: string, passed: number): Promise<void> {
  const scope = `agent:${agent}`;
  const checks = [
    { id: 'usd', scope, metric: 'usd_micros' as const, windowMs: HOUR, limit: 5_000_000 },
    { id: 'requests', scope, metric: 'requests' as const, windowMs: HOUR, limit: 1_000_000 },
  ];
  const observe = async () => {
    const [usd, requests] = await ledger.standing(checks);
    return { ledger: { micros: usd.used, calls: requests.used, held: usd.reserved }, history: { ...historyOf(root, agent), held: 0 } };
  };
  let seen = await observe();
  // the backlog retries every second: poll (a guard against hanging, not a timing assertion)
  await waitFor(`${agent}: the ledger to match history`, async () => {
    seen = await observe().catch(() => seen);
    return JSON.stringify(seen.ledger) === JSON.stringify(seen.history);
  }).catch(() => undefined);
  assert.deepEqual(seen.ledger, seen.history, `${agent}: the ledger holds what history charged, nothing held`);
  assert.equal(seen.history.calls, 1 + passed, `${agent}: every call that passed is in history`);
}

describe('a Cluster master marked failed, full coverage required (the default): CLUSTERDOWN everywhere', () => {
  const state = onFailedMaster({
    cluster: {},
    // a master that holds neither the prefix's own keys nor either agent's group: the others answer, with CLUSTERDOWN
    agents: async (portOf, home, ports) => {
      const lost = ports.find((port) => port !== home) as number;
      const found: string[] = [];
      for (let index = 0; found.length < 2 && index < 200; index++) if ((await portOf(`a${index}`)) !== lost) found.push(`a${index}`);
      return { agents: { [found[0]]: 'open', [found[1]]: 'closed' }, lost };
    },
  });
  /** The agent served by the proxy in `mode`. */
  const agentIn = (mode: Mode) => Object.keys(state.agents).find((agent) => state.agents[agent] === mode) as string;

  for (const [mode, status, healthStatus] of [
    ['closed', 503, 503],
    ['open', 200, 200],
  ] as const) {
    it(`${mode}: every call answered ${status}, the reason naming CLUSTERDOWN (nothing ran); health ${healthStatus}, the ledger down saying why`, (t) => {
      const agent = agentIn(mode);
      t.diagnostic(`${mode}: ms to each ${status} while down: ${state.waits.get(agent)?.join(', ')}`);
      assert.deepEqual(state.statuses.get(agent), Array(CALLS_DOWN).fill(status));
      const reasons = unavailableReasons(state.proxies.get(mode) as RunningProxy, agent);
      assert.equal(reasons.length, CALLS_DOWN, `one unavailable decision per call: ${reasons.join(' | ')}`);
      for (const reason of reasons) assert.match(reason, /CLUSTERDOWN The cluster is down \(nothing ran\)/);
      const seen = state.health.get(mode);
      assert.equal(seen?.status, healthStatus, JSON.stringify(seen));
      assert.equal(seen?.body.ledger.ok, false);
      assert.match(seen?.body.ledger.detail ?? '', new RegExp(`CLUSTERDOWN to every command \\(no reply from master 127\\.0\\.0\\.1:${state.lost}\\)`));
    });
  }

  for (const mode of ['open', 'closed'] as const) {
    it(`${mode}: once the Cluster heals, the ledger holds what history charged, each call once, nothing held`, async () => {
      const agent = agentIn(mode);
      await chargedOnce(state.ledger as RedisLedger, state.root, agent, state.statuses.get(agent)?.filter((status) => status === 200).length ?? 0);
    });
  }
});

describe('a Cluster master marked failed, cluster-require-full-coverage no: only its groups out', () => {
  const state = onFailedMaster({
    cluster: { requireFullCoverage: false },
    burst: true,
    // fail closed: an agent on the failed master (not the prefix's home) and one on another master
    agents: async (portOf, home) => {
      let lost: [string, number] | null = null;
      for (let index = 0; index < 200; index++) {
        const port = await portOf(`a${index}`);
        if (lost === null && port !== home) lost = [`a${index}`, port];
        else if (lost !== null && port !== lost[1]) return { agents: { [lost[0]]: 'closed', [`a${index}`]: 'closed' }, lost: lost[1] };
      }
      throw new Error('no two agents on different masters in a0-a199');
    },
  });
  const lostAgent = () => Object.keys(state.agents)[0];
  const keptAgent = () => Object.keys(state.agents)[1];

  it("closed: the other master's agent keeps passing, the failed master's gets 503; health 200, degraded, naming it", (t) => {
    t.diagnostic(
      `ms to each answer while failed: ${lostAgent()} ${state.waits.get(lostAgent())?.join(', ')}; ${keptAgent()} ${state.waits.get(keptAgent())?.join(', ')}`,
    );
    assert.deepEqual(state.statuses.get(keptAgent()), Array(CALLS_DOWN).fill(200));
    assert.deepEqual(state.statuses.get(lostAgent()), Array(CALLS_DOWN).fill(503));
    const seen = state.health.get('closed');
    assert.equal(seen?.status, 200, JSON.stringify(seen));
    assert.equal(seen?.body.ledger.ok, true);
    assert.match(seen?.body.ledger.detail ?? '', new RegExp(`degraded, no reply from master 127\\.0\\.0\\.1:${state.lost}$`));
  });

  it("closed: calls at once for the failed master's group: one waits as the probe, the others get a 503 unsent (nothing ran)", (t) => {
    const burst = (agent: string) => state.bursts.get(agent) ?? [];
    t.diagnostic(
      `ms to each answer of ${BURST} calls at once: ${lostAgent()} ${burst(lostAgent()).map((call) => call.ms)}; ${keptAgent()} ${burst(keptAgent()).map((call) => call.ms)}`,
    );
    assert.deepEqual(
      burst(keptAgent()).map((call) => call.status),
      Array(BURST).fill(200),
    );
    assert.deepEqual(
      burst(lostAgent()).map((call) => call.status),
      Array(BURST).fill(503),
    );
    // every command for that master used to wait its own timeout ("outcome unknown"); now the master is taken as
    // stalled after one, and a call beside the waiting probe is refused before sending
    const reasons = unavailableReasons(state.proxies.get('closed') as RunningProxy, lostAgent());
    assert.equal(reasons.length, CALLS_DOWN + BURST, `one unavailable decision per call: ${reasons.join(' | ')}`);
    const refused = reasons.filter((reason) =>
      new RegExp(`master 127\\.0\\.0\\.1:${state.lost}\\): no reply for \\d+ ms; not sent while a probe waits`).test(reason),
    );
    t.diagnostic(`refused unsent: ${refused.length} of ${reasons.length}`);
    assert.ok(refused.length >= 1, `at least one call beside the probe refused unsent: ${reasons.join(' | ')}`);
    assert.ok(unavailableReasons(state.proxies.get('closed') as RunningProxy, keptAgent()).length === 0, 'the other master answers every call');
  });

  it('after it returns, each agent holds what history charged, once, and nothing is held', async () => {
    for (const agent of [lostAgent(), keptAgent()]) {
      const passed = [...(state.statuses.get(agent) ?? []), ...(state.bursts.get(agent) ?? []).map((call) => call.status)].filter((status) => status === 200);
      await chargedOnce(state.ledger as RedisLedger, state.root, agent, passed.length);
    }
  });
});

/** A context root with one agent per id (budget $5 per hour; token `<id>:s`), OpenAI on the fake upstream. */
function writeRoot(upstreamUrl: string, agents: readonly string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-cdown-'));
  for (const agent of agents) {
    mkdirSync(join(root, 'context', agent), { recursive: true });
    writeFileSync(join(root, 'context', agent, 'metadata.json'), JSON.stringify({ token: `${agent}:s`, budget: { limit_usd: 5, window: '1h' } }));
  }
  mkdirSync(join(root, 'auth'));
  const openai = { base_url: `${upstreamUrl}/v1`, api_key: 'sk-real', auth: 'bearer', forward_headers: TEST_FORWARD_HEADERS };
  writeFileSync(join(root, 'auth', 'providers.json'), JSON.stringify({ providers: { openai } }));
  return root;
}

/** The reasons of the proxy's `budget_decision` events with outcome `unavailable` for the agent (its stdout). */
function unavailableReasons(proxy: RunningProxy, agent: string): string[] {
  return proxy
    .stdout()
    .split('\n')
    .filter((line) => line.includes('"budget_decision"') && line.includes('"unavailable"'))
    .map((line) => JSON.parse(line) as { claw_id: string; reason: string })
    .filter((event) => event.claw_id === agent)
    .map((event) => event.reason);
}

/** Calls and micro-dollars the agent's history holds. */
function historyOf(root: string, agent: string): { micros: number; calls: number } {
  const file = join(root, 'history', agent, 'history.jsonl');
  if (!existsSync(file)) return { micros: 0, calls: 0 };
  let micros = 0;
  let calls = 0;
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    calls++;
    micros += Number((JSON.parse(line) as { usage: { cost_micros: number } }).usage.cost_micros);
  }
  return { micros, calls };
}
