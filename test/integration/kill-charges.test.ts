// kill -9 under load: every call a client saw complete is in the ledger and in history exactly once, and /costs/api agrees with /api/agents.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { freePort, startProxyProcess } from '../helpers/process.ts';
import { writeProcessRoot } from '../helpers/process-root.ts';

/** The run was 10 kills of ~30 s; 5 rounds of ~2 s keep this test well under a minute and still lose calls on the old code. */
const ROUNDS = 5;
const CLIENTS = 32;
const LOAD_MS = 2_000;
const AGENTS = ['a', 'b'];

describe('kill -9 under 32 concurrent clients', () => {
  let fake: FakeUpstream;
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    fake = await startFakeUpstream({ chunks: 3 });
    ({ root, env } = writeProcessRoot({
      name: 'kill',
      upstreamUrl: fake.url,
      agentId: 'a',
      metadata: { token: 'a:s', budget: { limit_usd: 1000, window: '24h' } },
    }));
    mkdirSync(join(root, 'context', 'b'), { recursive: true });
    writeFileSync(join(root, 'context', 'b', 'metadata.json'), JSON.stringify({ token: 'b:s', budget: { limit_usd: 1000, window: '24h' } }));
  });
  after(async () => {
    await fake.close();
    rmSync(root, { recursive: true, force: true });
  });

  // five kill-and-restart rounds: ~35 s on a quiet 2-core machine, past 60 s when other suites share it
  it(`${ROUNDS} rounds: nothing the clients saw complete is lost, nothing is counted twice`, { timeout: 170_000 }, async (t) => {
    const completed = new Set<string>();
    const reconciled: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const proxy = await startProxyProcess({ env, port: await freePort() });
      reconciled.push(
        ...proxy
          .stderr()
          .split('\n')
          .filter((line) => line.includes('reconcil')),
      );
      const load = runClients({ url: proxy.url, completed, round });
      await new Promise((resolve) => setTimeout(resolve, LOAD_MS));
      await proxy.stop('SIGKILL');
      await load.stop();
    }
    t.diagnostic(`${completed.size} calls completed over ${ROUNDS} kills; start-ups said: ${reconciled.join(' | ')}`);
    assert.ok(completed.size > 100, `the clients completed ${completed.size} calls`);

    const uiPort = await freePort();
    const proxy = await startProxyProcess({ env: { ...env, UI_ADDR: `127.0.0.1:${uiPort}` }, port: await freePort() });
    try {
      const history = historyIds(root);
      const missing = [...completed].filter((id) => !history.counts.has(id));
      const twice = [...history.counts].filter(([, count]) => count > 1);
      const ui = `http://127.0.0.1:${uiPort}`;
      const costs = await waitForCosts(ui);
      const ledger = await ledgerTotals(ui);
      t.diagnostic(
        `completed ${completed.size}, missing from history ${missing.length}, history entries ${history.entries} (${history.micros} µ$), ` +
          `ledger ${ledger.requests} calls (${ledger.micros} µ$), /costs/api ${costs.total_requests} calls ($${costs.total_cost_usd})`,
      );
      assert.deepEqual(missing, [], `${missing.length} of ${completed.size} completed calls are missing from history`);
      assert.deepEqual(twice, [], 'no call is in history twice');
      assert.equal(ledger.requests, history.entries, 'the ledger counts every history entry once (a lost charge or a double one shows here)');
      assert.equal(ledger.micros, history.micros, 'the ledger holds what history says was spent');
      assert.equal(costs.total_requests, ledger.requests, '/costs/api and /api/agents agree on the calls');
      assert.equal(Math.round(costs.total_cost_usd * 1e6), ledger.micros, '/costs/api and /api/agents agree on the spend');

      const health = (await (await fetch(`${proxy.url}/health`)).json()) as { reconciliation?: { checked: number; charged: number } };
      assert.ok(health.reconciliation, '/health reports the start-up reconciliation');
    } finally {
      await proxy.stop();
    }
  });
});

/** 32 clients calling in a loop (JSON and streams, both agents) until stopped; ids of the calls whose answer ended cleanly go into `completed`. */
function runClients(input: { url: string; completed: Set<string>; round: number }): { stop(): Promise<void> } {
  let running = true;
  const loops = Array.from({ length: CLIENTS }, async (_, client) => {
    for (let call = 0; running; call++) {
      const agent = AGENTS[client % AGENTS.length];
      const stream = (client + call) % 2 === 0;
      try {
        const response = await fetch(`${input.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${agent}:s`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'openai/gpt-4o',
            stream,
            max_tokens: 7 + (call % 5),
            messages: [{ role: 'user', content: `r${input.round} c${client} n${call}` }],
          }),
        });
        const id = response.headers.get('x-tollgate-request-id');
        await response.text(); // resolves only when the whole answer arrived (a connection cut part-way rejects)
        if (response.status === 200 && id) input.completed.add(id);
      } catch {
        if (!running) return;
        await new Promise((resolve) => setTimeout(resolve, 20)); // the proxy is gone: this round is over
      }
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

function historyIds(root: string): { counts: Map<string, number>; entries: number; micros: number } {
  const counts = new Map<string, number>();
  let entries = 0;
  let micros = 0;
  for (const agent of AGENTS) {
    const file = join(root, 'history', agent, 'history.jsonl');
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      let entry: { request_id?: string; usage?: { cost_micros?: number } };
      try {
        entry = JSON.parse(line);
      } catch {
        continue; // a line the kill tore
      }
      entries += 1;
      micros += entry.usage?.cost_micros ?? 0;
      if (entry.request_id) counts.set(entry.request_id, (counts.get(entry.request_id) ?? 0) + 1);
    }
  }
  return { counts, entries, micros };
}

async function waitForCosts(ui: string): Promise<{ total_requests: number; total_cost_usd: number }> {
  // the start-up scan of history runs in the background: /api/summary says when it is done
  for (let i = 0; i < 600; i++) {
    const body = (await (await fetch(`${ui}/api/summary`)).json()) as { costs_ready?: boolean };
    if (body.costs_ready) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return (await (await fetch(`${ui}/costs/api`)).json()) as { total_requests: number; total_cost_usd: number };
}

async function ledgerTotals(ui: string): Promise<{ requests: number; micros: number }> {
  const body = (await (await fetch(`${ui}/api/agents`)).json()) as { agents: { windows: { requests: number; spend_micros: number }[] }[] };
  let requests = 0;
  let micros = 0;
  for (const agent of body.agents) {
    requests += agent.windows[0]?.requests ?? 0;
    micros += agent.windows[0]?.spend_micros ?? 0;
  }
  return { requests, micros };
}
