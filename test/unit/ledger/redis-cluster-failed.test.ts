// A Cluster master paused past cluster-node-timeout (marked failed, no replica), with full coverage required or not.
import { after, afterEach, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { LedgerOutcomeUnknownError, LedgerUnreachableError, type ReserveInput } from '../../../src/ledger/ledger.ts';
import { createRedisLedger } from '../../../src/ledger/redis/ledger.ts';
import { ledgerNamespace } from '../../../src/ledger/redis/layout.ts';
import { SettleBacklog } from '../../../src/budget/settle-backlog.ts';
import { PrivateCluster, waitFor } from './redis-test-support.ts';
import { agentPerMaster, endedUnmocked, ledgerFor, reservation, type Agent } from './redis-cluster-agents.ts';

const TIMEOUT_MS = 1000;
/** Short, so a paused master is marked failed within seconds (redis-server's default: 15 s). */
const NODE_TIMEOUT_MS = 1000;

/** A Cluster, a ledger over it with one agent per master, and the agent on a master that is not the ledger's home. */
async function setUp(cluster: PrivateCluster, prefix: string) {
  const home = await cluster.portOf(`${ledgerNamespace(prefix, null)}layout`);
  const agents = await agentPerMaster(cluster, prefix);
  const { ledger, charged, charge } = await ledgerFor(cluster, prefix, agents, TIMEOUT_MS);
  const lost = agents.find((agent) => agent.port !== home) as Agent;
  /** Every agent's [used, reserved] now, and what it must be: what was charged, nothing held. */
  const totals = async () => ({
    ledger: (await ledger.standing(agents.map((agent) => agent.check))).map((standing) => [standing.used, standing.reserved]),
    charged: agents.map((agent) => [charged.get(agent.scope), 0]),
  });
  return { agents, ledger, lost, healthy: agents.filter((agent) => agent !== lost), charge, totals };
}

/** Ends within `guardMs` (a guard against hanging, not a timing assertion): the error it rejected with, or a failure. */
async function rejection(what: string, promise: Promise<unknown>, guardMs = 15_000): Promise<Error> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), guardMs);
  });
  try {
    const ended = await Promise.race([
      promise.then(
        () => 'answered' as const,
        (error: Error) => error,
      ),
      guard,
    ]);
    if (ended === 'hung') assert.fail(`${what}: no end within ${guardMs} ms`);
    if (ended === 'answered') assert.fail(`${what}: answered beside a failed master`);
    return ended;
  } finally {
    clearTimeout(timer);
  }
}

describe('a Cluster master marked failed, cluster-require-full-coverage no', { concurrency: false }, () => {
  let cluster: PrivateCluster;
  before(async () => {
    cluster = await PrivateCluster.start({ nodeTimeoutMs: NODE_TIMEOUT_MS, requireFullCoverage: false });
  });
  afterEach(() => cluster?.resumeAll());
  after(() => cluster?.stop());

  it("the other masters' groups keep reserving and settling, its own fail within the timeout; after it returns each charge counts once", async () => {
    const { agents, ledger, lost, healthy, charge, totals } = await setUp(cluster, 'cfail-partial');
    const running = new Map<Agent, ReserveInput>();
    const late = reservation(lost, 200);
    try {
      for (const agent of agents) {
        running.set(agent, reservation(agent, 100));
        assert.equal((await ledger.reserve(running.get(agent) as ReserveInput)).admitted, true);
      }
      await cluster.pauseFully(lost.port);
      await cluster.waitUntilFailed(lost.port);
      for (const agent of healthy) assert.equal(await cluster.stateOn(agent.port), 'ok', 'the others still serve their own slots');

      // its group: no hang, a timeout with the outcome unknown (the command waits in its socket and may run on its return)
      for (const [what, call] of [
        ['reserve', () => ledger.reserve(late)],
        ['settle', () => ledger.settle({ id: (running.get(lost) as ReserveInput).id, amounts: { usd_micros: 100 } })],
      ] as const) {
        const error = await rejection(`${what} on the failed master`, call());
        assert.ok(error instanceof LedgerOutcomeUnknownError, `${what}: ${String(error)}`);
      }
      // the others: their running calls settle, new ones reserve and settle
      for (const agent of healthy) {
        assert.equal(await ledger.settle({ id: (running.get(agent) as ReserveInput).id, amounts: { usd_micros: 70 } }), true);
        charge(agent, 70);
        const input = reservation(agent, 50);
        assert.equal((await ledger.reserve(input)).admitted, true);
        assert.equal(await ledger.settle({ id: input.id, amounts: { usd_micros: 50 } }), true);
        charge(agent, 50);
      }
      const health = await ledger.health();
      assert.equal(health.ok, true, `the other masters serve their groups: not down (${health.detail})`);
      assert.match(health.detail ?? '', new RegExp(`degraded, no reply from master 127\\.0\\.0\\.1:${lost.port}$`));

      cluster.resume(lost.port);
      await cluster.waitUntilOk();
      // resolved by id, as the backlog does: the late reserve ran past its deadline (or not at all) and held nothing, so
      // it is recorded; the running call's settle is retried (counted once if it ran on the master's return)
      const orRecord = { scopes: [lost.scope], at: Date.now() };
      await waitFor('the returned master to answer the ledger', async () => {
        try {
          return await ledger.settle({ id: late.id, amounts: { usd_micros: 200 }, orRecord });
        } catch {
          return false;
        }
      });
      charge(lost, 200);
      await ledger.settle({ id: (running.get(lost) as ReserveInput).id, amounts: { usd_micros: 100 }, orRecord });
      charge(lost, 100);
      const { ledger: held, charged } = await totals();
      assert.deepEqual(held, charged, 'every scope holds what was charged, once, and nothing is left held');
    } finally {
      await ledger.close();
    }
  });

  it("health, the master holding the prefix's own keys failed: down, naming that master", async () => {
    const prefix = 'cfail-home';
    const home = await cluster.portOf(`${ledgerNamespace(prefix, null)}layout`);
    const ledger = await createRedisLedger({ url: cluster.url, cluster: true, keyPrefix: prefix, commandTimeoutMs: TIMEOUT_MS });
    try {
      assert.equal((await ledger.health()).ok, true);
      await cluster.pauseFully(home);
      await cluster.waitUntilFailed(home);
      const health = await ledger.health();
      assert.equal(health.ok, false, 'the layout, life markers and shared state are out of reach');
      assert.match(health.detail ?? '', new RegExp(`: Command timed out \\(outcome unknown\\); no reply from master 127\\.0\\.0\\.1:${home}$`));
      cluster.resume(home);
      await cluster.waitUntilOk();
      await waitFor('health to be ok again', async () => (await ledger.health()).ok);
    } finally {
      await ledger.close();
    }
  });
});

describe('a Cluster master marked failed, cluster-require-full-coverage yes (the default)', { concurrency: false }, () => {
  let cluster: PrivateCluster;
  before(async () => {
    cluster = await PrivateCluster.start({ nodeTimeoutMs: NODE_TIMEOUT_MS });
  });
  afterEach(() => {
    mock.timers.reset();
    cluster?.resumeAll();
  });
  after(() => cluster?.stop());

  it('every group is refused at once as unreachable (nothing ran), health says why, and the backlog settles each charge once', async () => {
    const { agents, ledger, lost, healthy, charge, totals } = await setUp(cluster, 'cfail-down');
    const reports: string[] = [];
    const backlog = new SettleBacklog({ ledger, report: (message) => reports.push(message), retryMs: 100 });
    const running = new Map(agents.map((agent) => [agent, reservation(agent, 100)]));
    /** Kept as a ticket keeps a settle the ledger failed (unreachable, or unknown outcome), to apply when it is back. */
    const keep = (agent: Agent, usd: number) =>
      backlog.add({
        kind: 'settle',
        reservationId: (running.get(agent) as ReserveInput).id,
        scopes: [agent.scope],
        amounts: { usd_micros: usd },
        at: Date.now(),
      });
    try {
      for (const agent of agents) assert.equal((await ledger.reserve(running.get(agent) as ReserveInput)).admitted, true);
      await cluster.pauseFully(lost.port);
      await cluster.waitUntilFailed(lost.port);
      for (const agent of healthy) await waitFor(`CLUSTERDOWN on ${agent.port}`, async () => (await cluster.stateOn(agent.port)) === 'fail');

      // with the clock standing still: a master that answers CLUSTERDOWN ends the command itself (ioredis used to resend
      // it every 100 ms until tollgate's timeout ended it, "outcome unknown", each call waiting the whole timeout)
      mock.timers.enable({ apis: ['setTimeout'] });
      for (const agent of healthy) {
        for (const [what, call] of [
          ['reserve', () => ledger.reserve(reservation(agent, 50))],
          ['settle', () => ledger.settle({ id: (running.get(agent) as ReserveInput).id, amounts: { usd_micros: 70 } })],
        ] as const) {
          const { error } = await endedUnmocked<unknown>(`${what} on ${agent.port}`, call());
          assert.ok(error instanceof LedgerUnreachableError, `${what} on ${agent.port}, refused before running: ${String(error)}`);
          assert.match(error.message, /CLUSTERDOWN/);
        }
        keep(agent, 70);
        charge(agent, 70);
      }
      mock.timers.reset();

      // the failed master's own group: sent, unanswered, outcome unknown (it runs on the master's return)
      const error = await rejection('settle on the failed master', ledger.settle({ id: (running.get(lost) as ReserveInput).id, amounts: { usd_micros: 100 } }));
      assert.ok(error instanceof LedgerOutcomeUnknownError, String(error));
      keep(lost, 100);
      charge(lost, 100);

      const health = await ledger.health();
      assert.equal(health.ok, false, 'every command is refused: the ledger is down');
      assert.match(health.detail ?? '', /the Cluster answers CLUSTERDOWN to every command/);
      assert.match(health.detail ?? '', new RegExp(`no reply from master 127\\.0\\.0\\.1:${lost.port}\\b`));

      await backlog.drain();
      assert.equal(backlog.size, agents.length, `nothing dropped while the Cluster is down (${reports.join('; ')})`);
      cluster.resume(lost.port);
      await cluster.waitUntilOk();
      await waitFor('the backlog to apply every kept settlement', async () => {
        await backlog.drain();
        return backlog.size === 0;
      });
      assert.ok(!reports.some((report) => /dropped/.test(report)), reports.join('; '));
      const { ledger: held, charged } = await totals();
      assert.deepEqual(held, charged, 'every scope holds what was charged, once (a settle that ran late counted once), nothing held');
    } finally {
      mock.timers.reset();
      await backlog.close();
      await ledger.close();
    }
  });
});
