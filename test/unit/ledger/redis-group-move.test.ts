// A budget changing group on a Redis Cluster (an agent joins a shared budget): its state moves, nothing lost or doubled.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BudgetGroups } from '../../../src/ledger/budget-groups.ts';
import type { LimitCheck } from '../../../src/ledger/ledger.ts';
import { createRedisLedger, type RedisLedger } from '../../../src/ledger/redis/ledger.ts';
import { toRow } from '../../../src/ledger/amounts.ts';
import { settlePayload } from '../../../src/ledger/redis/codec.ts';
import { layoutSignature, ledgerNamespace, packedLevels } from '../../../src/ledger/redis/layout.ts';
import { ledgerLibrary } from '../../../src/ledger/redis/scripts.ts';
import { Cluster } from 'ioredis';
import { PrivateCluster } from './redis-test-support.ts';

const HOUR = 3_600_000;
const limit = (scope: string, value = 10_000): LimitCheck => ({ id: `${scope}/usd`, scope, metric: 'usd_micros', windowMs: HOUR, limit: value });

describe('a budget moving between groups when membership changes', () => {
  let cluster: PrivateCluster;
  before(async () => {
    cluster = await PrivateCluster.start();
  });
  after(() => cluster?.stop());

  it('moves an agent joining a shared budget with its usage; a reservation in flight settles once, in its new group', async () => {
    const alone = BudgetGroups.of([
      { agentId: 'a1', shared: ['team'] },
      { agentId: 'a2', shared: [] },
    ]);
    const joined = BudgetGroups.of([
      { agentId: 'a1', shared: ['team'] },
      { agentId: 'a2', shared: ['team'] },
    ]);
    let groups = alone;
    const replicas: RedisLedger[] = await Promise.all(
      [1, 2].map(() => createRedisLedger({ url: cluster.url, cluster: true, keyPrefix: 'move', groups: () => groups })),
    );
    const [first, second] = replicas;
    try {
      const spend = async (ledger: RedisLedger, scopes: string[], usd: number) => {
        const id = randomUUID();
        assert.equal(
          (await ledger.reserve({ id, scopes, amounts: { usd_micros: usd }, checks: scopes.map((scope) => limit(scope)), leaseMs: HOUR })).admitted,
          true,
        );
        assert.equal(await ledger.settle({ id, amounts: { usd_micros: usd } }), true);
      };
      await spend(first, ['agent:a2'], 300);
      await spend(second, ['agent:a2', 'agent:a2|model:gpt-4o'], 40);
      await spend(first, ['agent:a1', 'shared:team'], 500);
      const inFlight = randomUUID();
      const orphan = randomUUID(); // settled by a replica that dies before applying its outbox
      for (const id of [inFlight, orphan]) {
        const outcome = await first.reserve({ id, scopes: ['agent:a2'], amounts: { usd_micros: 200 }, checks: [limit('agent:a2')], leaseMs: HOUR });
        assert.equal(outcome.admitted, true);
      }
      await first.mover.reconcile(); // places every budget (first time seen)

      groups = joined; // the policy reload: a2 now draws from team too
      await first.standing([limit('agent:a2')]); // any call notices the new groups
      await first.mover.reconcile();
      await second.standing([limit('agent:a1')]);
      await second.mover.reconcile(); // placement already says where a2 is: nothing moves again

      const after = async (ledger: RedisLedger) =>
        (await ledger.standing([limit('agent:a2'), limit('agent:a2|model:gpt-4o'), limit('shared:team')])).map((standing) => standing.used);
      assert.deepEqual(await after(second), [340, 40, 500], 'its usage arrived whole, the model scope too');
      // the reservation reserved before the move settles where it was held, and its usage lands in the new group once
      assert.equal(await first.settle({ id: inFlight, amounts: { usd_micros: 150 } }), true);
      assert.equal(await first.settle({ id: inFlight, amounts: { usd_micros: 150 } }), false, 'a retried settle counts nothing');
      assert.deepEqual(await after(second), [490, 40, 500]);
      await spend(second, ['agent:a2', 'shared:team'], 60);
      assert.deepEqual(await after(first), [550, 40, 560], 'a2 now spends into the team, in one slot');

      // the settle's script runs (its usage goes to the old group's outbox) and the replica dies before applying it
      const admin = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
      try {
        const old = ledgerNamespace('move', 'agent:a2');
        const amounts = { usd_micros: 7 };
        const args = settlePayload({ id: orphan, amounts }, toRow(amounts), 600_000);
        const reply = await admin.fcall(
          ledgerLibrary().functions.settle,
          1,
          `${old}layout`,
          old,
          layoutSignature(first.levels),
          packedLevels(first.levels),
          ...args,
        );
        assert.equal(reply, 2, 'counted, waiting in the outbox');
      } finally {
        admin.disconnect();
      }
      assert.deepEqual(await after(second), [550, 40, 560], 'not applied yet');
      await second.mover.reconcile(); // any replica's next reconcile applies what was left
      await second.mover.reconcile();
      assert.deepEqual(await after(second), [557, 40, 560], 'applied once');
      const tight = await second.reserve({
        id: randomUUID(),
        scopes: ['agent:a2', 'shared:team'],
        amounts: { usd_micros: 451 },
        checks: [limit('agent:a2', 1000)],
        leaseMs: HOUR,
      });
      assert.equal(tight.admitted, false, 'its own limit still counts what it spent before the move');
    } finally {
      await Promise.all(replicas.map((ledger) => ledger.close()));
    }
  });
});
