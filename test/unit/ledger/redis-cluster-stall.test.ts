// A Redis Cluster with one master stalled (SIGSTOP): the other masters' budgets keep working, the stalled one's time out.
import { after, afterEach, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { LedgerOutcomeUnknownError, LedgerUnreachableError, type ReserveInput } from '../../../src/ledger/ledger.ts';
import { createRedisLedger, type RedisLedger } from '../../../src/ledger/redis/ledger.ts';
import { ledgerNamespace } from '../../../src/ledger/redis/layout.ts';
import { PrivateCluster, waitFor, watch } from './redis-test-support.ts';
import { agentPerMaster, answered, elapse, endedUnmocked, ledgerFor, reservation, turn, type Agent } from './redis-cluster-agents.ts';

const TIMEOUT_MS = 1000;

/** Runs `body` with the master at `port` stopped (SIGSTOP) and the clock mocked; resumes it whatever happens. */
async function whileStalled(cluster: PrivateCluster, port: number, body: () => Promise<void>): Promise<void> {
  try {
    await cluster.pauseFully(port);
    mock.timers.enable({ apis: ['setTimeout'] });
    await body();
  } finally {
    mock.timers.reset();
    cluster.resumeAll();
  }
}

/** Every agent's scope holds what it was charged, once, and nothing is left held. */
async function assertChargedOnce(ledger: RedisLedger, agents: readonly Agent[], charged: ReadonlyMap<string, number>): Promise<void> {
  const standings = await ledger.standing(agents.map((agent) => agent.check));
  assert.deepEqual(
    standings.map((standing) => [standing.used, standing.reserved]),
    agents.map((agent) => [charged.get(agent.scope), 0]),
    'every scope holds what was charged, once, and nothing is left held',
  );
}

describe('redis ledger on a Cluster with one master stalled', { concurrency: false }, () => {
  let cluster: PrivateCluster;
  before(async () => {
    cluster = await PrivateCluster.start();
  });
  afterEach(() => {
    // a test that failed half-way leaves no node stopped and no clock mocked
    mock.timers.reset();
    cluster?.resumeAll();
  });
  after(() => cluster?.stop());

  it("health names a stalled master that is not the ledger's home and stays up; answered within one timeout", async () => {
    const prefix = 'cstall-health';
    const home = await cluster.portOf(`${ledgerNamespace(prefix, null)}layout`);
    const ledger: RedisLedger = await createRedisLedger({ url: cluster.url, cluster: true, keyPrefix: prefix, commandTimeoutMs: TIMEOUT_MS });
    try {
      assert.deepEqual(await ledger.health(), { ok: true, kind: 'redis', detail: `redis ${cluster.ports.map((port) => `127.0.0.1:${port}`).join(',')}` });
      const other = cluster.ports.find((port) => port !== home) as number;
      await cluster.pauseFully(other);
      try {
        const health = await ledger.health(); // real clock: the stalled master's PING waits its one timeout
        assert.equal(health.ok, true, 'the other masters still serve their groups: not down');
        assert.match(health.detail ?? '', new RegExp(`degraded, no reply from master 127\\.0\\.0\\.1:${other}$`));
      } finally {
        cluster.resumeAll();
      }
      await waitFor('the master to answer again', async () => !(await ledger.health()).detail?.includes('degraded'));
    } finally {
      await ledger.close();
    }
  });

  for (const stalledAt of [0, 1, 2]) {
    it(`master ${stalledAt + 1} of 3 stalled: the others' reserves and settles are answered, its own time out; all reconciles by id`, async () => {
      const prefix = `cstall-${stalledAt}`;
      const agents = await agentPerMaster(cluster, prefix);
      const { ledger, charged, charge } = await ledgerFor(cluster, prefix, agents, TIMEOUT_MS);
      const stalled = agents[stalledAt];
      const healthy = agents.filter((agent) => agent !== stalled);
      /** A call on a healthy master, reserve to settle, while the clock stands still. */
      const call = async (agent: Agent, usd: number) => {
        const input = reservation(agent, usd);
        assert.equal((await answered(`reserve on ${agent.port}`, ledger.reserve(input))).admitted, true);
        assert.equal(await answered(`settle on ${agent.port}`, ledger.settle({ id: input.id, amounts: { usd_micros: usd } })), true);
        charge(agent, usd);
      };
      const running = new Map<Agent, ReserveInput>();
      const late = reservation(stalled, 200);
      const probe = reservation(stalled, 300);
      try {
        // every agent has a call running when the master stops
        for (const agent of agents) {
          running.set(agent, reservation(agent, 100));
          assert.equal((await ledger.reserve(running.get(agent) as ReserveInput)).admitted, true);
        }
        await whileStalled(cluster, stalled.port, async () => {
          // the stalled master's agent: a new call reserves, the running one ends and settles; both wait
          const lateReserve = watch(ledger.reserve(late));
          await turn();
          await turn();
          const stalledSettle = watch(ledger.settle({ id: (running.get(stalled) as ReserveInput).id, amounts: { usd_micros: 100 } }));
          await turn();
          // meanwhile the other masters' agents end their calls and make new ones
          for (const agent of healthy) {
            const id = (running.get(agent) as ReserveInput).id;
            assert.equal(await answered(`settle on ${agent.port}`, ledger.settle({ id, amounts: { usd_micros: 70 } })), true);
            charge(agent, 70);
            await call(agent, 50);
          }
          assert.equal(lateReserve.done, false, 'the stalled master has not answered');
          assert.equal(stalledSettle.done, false, 'the stalled master has not answered');

          await elapse(TIMEOUT_MS);
          // the stalled master's commands end with their timeout, outcome unknown (they may run when it resumes)
          for (const [what, state] of [
            ['reserve', lateReserve],
            ['settle', stalledSettle],
          ] as const) {
            assert.ok(state.error instanceof LedgerOutcomeUnknownError && /timed out/.test(state.error.message), `${what}: ${String(state.error)}`);
          }

          // A command went unanswered for its whole timeout: its master is taken as stalled, its next command goes out
          // as the probe and waits its own timeout, and the other masters' commands sent beside it are answered.
          const probeReserve = watch(ledger.reserve(probe));
          await turn();
          await Promise.all(healthy.map((agent) => call(agent, 30)));
          const healthyStandings = await answered('standing', ledger.standing(healthy.map((agent) => agent.check)));
          assert.deepEqual(
            healthyStandings.map((standing) => [standing.used, standing.reserved]),
            healthy.map((agent) => [charged.get(agent.scope), 0]),
          );
          assert.equal(probeReserve.done, false, 'the stalled master has still not answered');
          await elapse(TIMEOUT_MS);
          assert.ok(probeReserve.error instanceof LedgerOutcomeUnknownError, `a timeout, not a hang: ${String(probeReserve.error)}`);
        });

        await waitFor('the stalled master to answer again', async () => {
          try {
            await ledger.standing([stalled.check]);
            return true;
          } catch {
            return false;
          }
        });
        // resolved by id, as the backlog does: the late reserve's call passed (fail open) and is settled, or recorded if
        // it ran past its deadline; the running call's settle is retried (the tombstone counts it once if it had run);
        // the probe's call was refused (fail closed) and its id released
        const orRecord = { scopes: [stalled.scope], at: Date.now() };
        assert.equal(await ledger.settle({ id: late.id, amounts: { usd_micros: 200 }, orRecord }), true);
        charge(stalled, 200);
        await ledger.settle({ id: (running.get(stalled) as ReserveInput).id, amounts: { usd_micros: 100 }, orRecord });
        charge(stalled, 100);
        await ledger.release(probe.id);
        await assertChargedOnce(ledger, agents, charged);
      } finally {
        await ledger.close();
      }
    });
  }

  it("fail-fast per master: after one timeout its group's commands fail at once, unsent, one probe waits; the others work; its reply ends it", async () => {
    const prefix = 'cstall-fast';
    const agents = await agentPerMaster(cluster, prefix);
    const { ledger, charged, charge } = await ledgerFor(cluster, prefix, agents, TIMEOUT_MS);
    const home = await cluster.portOf(`${ledgerNamespace(prefix, null)}layout`);
    const stalled = agents.find((agent) => agent.port !== home) as Agent; // health reads the layout on the home master
    const healthy = agents.filter((agent) => agent !== stalled);
    const running = reservation(stalled, 100);
    const first = reservation(stalled, 200);
    const probe = reservation(stalled, 300);
    const refused = Array.from({ length: 6 }, () => reservation(stalled, 400));
    try {
      assert.equal((await ledger.reserve(running)).admitted, true);
      await whileStalled(cluster, stalled.port, async () => {
        const firstReserve = watch(ledger.reserve(first));
        await turn();
        await elapse(TIMEOUT_MS);
        assert.ok(firstReserve.error instanceof LedgerOutcomeUnknownError, `the first waits its whole timeout: ${String(firstReserve.error)}`);
        // the master is taken as stalled: the next command for its slots goes out as the probe and waits...
        const probeCall = ledger.reserve(probe);
        const probeReserve = watch(probeCall);
        await turn();
        // ...and every other one for its slots ends at once (the clock stands still), unsent: known not to have run
        for (const [index, input] of refused.entries()) {
          const call: Promise<unknown> = index === 0 ? ledger.settle({ id: running.id, amounts: { usd_micros: 100 } }) : ledger.reserve(input);
          const { error } = await endedUnmocked(`command ${index + 1} for the stalled master`, call);
          assert.ok(error instanceof LedgerUnreachableError, `refused unsent, not an unknown outcome: ${String(error)}`);
          assert.match(error.message, new RegExp(`master 127\\.0\\.0\\.1:${stalled.port}\\): no reply for \\d+ ms; not sent while a probe waits`));
        }
        // the other masters' groups are untouched: reserves and settles answered by their masters
        for (const agent of healthy) {
          const input = reservation(agent, 50);
          assert.equal((await answered(`reserve on ${agent.port}`, ledger.reserve(input))).admitted, true);
          assert.equal(await answered(`settle on ${agent.port}`, ledger.settle({ id: input.id, amounts: { usd_micros: 50 } })), true);
          charge(agent, 50);
        }
        // health's PING of the stalled master is refused too (a probe waits): answered at once, naming it
        const health = await answered('health', ledger.health());
        assert.equal(health.ok, true, String(health.detail));
        assert.match(health.detail ?? '', new RegExp(`degraded, no reply from master 127\\.0\\.0\\.1:${stalled.port}$`));
        assert.equal(probeReserve.done, false, 'the probe still waits');

        // SIGCONT: the probe's reply (admitted, or held nothing as run past its deadline) ends the fail-fast
        cluster.resume(stalled.port);
        const { error } = await endedUnmocked('the probe', probeCall);
        assert.ok(error === null || error instanceof LedgerUnreachableError, `the probe was answered: ${String(error)}`);
        const after = reservation(stalled, 60);
        assert.equal((await answered('reserve after the reply', ledger.reserve(after))).admitted, true);
        assert.equal(await answered('settle after the reply', ledger.settle({ id: after.id, amounts: { usd_micros: 60 } })), true);
        charge(stalled, 60);
      });

      // resolved by id, as the backlog does: the first reserve (it ran on the master's return, or was late and held
      // nothing) and the probe are settled or recorded, the running call's refused settle is retried; the refused
      // reserves never ran, so nothing of theirs is held
      const orRecord = { scopes: [stalled.scope], at: Date.now() };
      for (const [input, usd] of [
        [first, 200],
        [probe, 300],
        [running, 100],
      ] as const) {
        assert.equal(await ledger.settle({ id: input.id, amounts: { usd_micros: usd }, orRecord }), true);
        charge(stalled, usd);
      }
      await assertChargedOnce(ledger, agents, charged);
    } finally {
      await ledger.close();
    }
  });
});
