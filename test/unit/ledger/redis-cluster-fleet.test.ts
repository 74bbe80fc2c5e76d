// A fleet on a private 3-master Redis Cluster: 1,000 agents in 50 budget groups spread over every master, none overshoots.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BudgetGroups, type Membership } from '../../../src/ledger/budget-groups.ts';
import type { LimitCheck, ReserveOutcome } from '../../../src/ledger/ledger.ts';
import { createRedisLedger, type RedisLedger } from '../../../src/ledger/redis/ledger.ts';
import { PrivateCluster } from './redis-test-support.ts';

const AGENTS = 1000;
const GROUPS = 50;
const MINUTE = 60_000;

/** Agent i draws from shared budget team-(i mod 50): 50 groups of 20 agents and one shared budget each. */
const memberships: Membership[] = Array.from({ length: AGENTS }, (_, index) => ({ agentId: `a${index}`, shared: [`team-${index % GROUPS}`] }));
const teamLimit = (team: number): LimitCheck => ({
  id: `shared:team-${team}/usd`,
  scope: `shared:team-${team}`,
  metric: 'usd_micros',
  windowMs: MINUTE,
  limit: 10_000,
});

describe('a fleet on Redis Cluster, one hash tag per budget group', () => {
  let cluster: PrivateCluster;
  let replicas: RedisLedger[];
  before(async () => {
    cluster = await PrivateCluster.start();
    const groups = BudgetGroups.of(memberships);
    assert.equal(groups.count, GROUPS);
    replicas = await Promise.all([1, 2, 3].map(() => createRedisLedger({ url: cluster.url, cluster: true, keyPrefix: 'fleet', groups: () => groups })));
  });
  after(async () => {
    await Promise.all((replicas ?? []).map((ledger) => ledger.close()));
    await cluster?.stop();
  });

  it('spreads the 50 groups over all three masters', async () => {
    // every agent spends once, on its own scope and its team's, from one of three replicas
    for (let start = 0; start < AGENTS; start += 100) {
      await Promise.all(
        memberships.slice(start, start + 100).map(async ({ agentId, shared }, offset) => {
          const ledger = replicas[(start + offset) % 3];
          const id = randomUUID();
          const scopes = [`agent:${agentId}`, `shared:${shared[0]}`];
          assert.equal((await ledger.reserve({ id, scopes, amounts: { usd_micros: 1 }, checks: [], leaseMs: MINUTE })).admitted, true);
          assert.equal(await ledger.settle({ id, amounts: { usd_micros: 1 } }), true);
        }),
      );
    }
    const counts = [...(await cluster.keyCounts()).values()];
    assert.equal(counts.length, 3);
    for (const count of counts) assert.ok(count > 0, `every master holds ledger keys: ${counts.join(', ')}`);
    const standings = await replicas[0].standing(Array.from({ length: GROUPS }, (_, team) => teamLimit(team)));
    assert.deepEqual(
      standings.map((standing) => standing.used),
      Array.from({ length: GROUPS }, () => AGENTS / GROUPS),
      'one standing call answers across groups',
    );
  });

  it('admits exactly what fits in every group: 20 concurrent reserves per group over 3 replicas, 10 fit', async () => {
    const calls = Array.from({ length: GROUPS * 20 }, (_, index) => {
      const team = index % GROUPS;
      const agent = team + GROUPS * Math.floor(index / GROUPS); // a different agent of the team each time
      return { id: randomUUID(), team, scopes: [`agent:a${agent}`, `shared:team-${team}`] };
    });
    const before = await replicas[0].standing(Array.from({ length: GROUPS }, (_, team) => teamLimit(team)));
    const outcomes: ReserveOutcome[] = await Promise.all(
      calls.map((call, index) =>
        replicas[index % 3].reserve({ id: call.id, scopes: call.scopes, amounts: { usd_micros: 1000 }, checks: [teamLimit(call.team)], leaseMs: MINUTE }),
      ),
    );
    for (let team = 0; team < GROUPS; team++) {
      const admitted = calls.filter((call, index) => call.team === team && outcomes[index].admitted).length;
      const room = Math.floor((10_000 - before[team].used) / 1000);
      assert.equal(admitted, room, `group of team-${team}: ${admitted} admitted, ${room} fit`);
    }
    // settled from another replica than the one that reserved: the grouped layout finds them by their scopes
    await Promise.all(
      calls.map((call, index) =>
        outcomes[index].admitted
          ? replicas[(index + 1) % 3].settle({ id: call.id, amounts: { usd_micros: 900 }, orRecord: { scopes: call.scopes, at: Date.now() } })
          : null,
      ),
    );
    const after = await replicas[2].standing(Array.from({ length: GROUPS }, (_, team) => teamLimit(team)));
    for (let team = 0; team < GROUPS; team++) {
      assert.equal(after[team].reserved, 0);
      assert.equal(after[team].used, before[team].used + 900 * Math.floor((10_000 - before[team].used) / 1000));
    }
  });
});
