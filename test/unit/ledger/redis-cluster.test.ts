// The Redis ledger on a real (private, three-master) Redis Cluster: one hash tag keeps every operation in one slot.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LimitCheck } from '../../../src/ledger/ledger.ts';
import { createRedisLedger, type RedisLedger } from '../../../src/ledger/redis/ledger.ts';
import { PrivateCluster } from './redis-test-support.ts';

describe('redis ledger on Redis Cluster', () => {
  let cluster: PrivateCluster;
  before(async () => {
    cluster = await PrivateCluster.start();
  });
  after(() => cluster?.stop());

  it('shares limits across three replicas and keeps every key on one node', async () => {
    const replicas: RedisLedger[] = await Promise.all([1, 2, 3].map(() => createRedisLedger({ url: cluster.url, cluster: true, keyPrefix: 'fleet-a' })));
    try {
      assert.equal((await replicas[0].health()).ok, true);
      const shared: LimitCheck = { id: 'shared:t/usd', scope: 'shared:t', metric: 'usd_micros', windowMs: 60_000, limit: 10_000 };
      const ids = Array.from({ length: 60 }, (_, index) => `r${index}`);
      const outcomes = await Promise.all(
        ids.map((id, index) =>
          replicas[index % 3].reserve({ id, scopes: [`agent:a${index % 7}`, 'shared:t'], amounts: { usd_micros: 1000 }, checks: [shared], leaseMs: 30_000 }),
        ),
      );
      assert.equal(outcomes.filter((outcome) => outcome.admitted).length, 10);
      let settled = 0;
      for (const [index, id] of ids.entries()) {
        if (outcomes[index].admitted && (await replicas[(index + 1) % 3].settle({ id, amounts: { usd_micros: 900 } }))) settled += 1;
      }
      assert.equal(settled, 10);
      const [standing] = await replicas[2].standing([shared]);
      assert.equal(standing.used, 9000);
      assert.equal(standing.reserved, 0);
      const nodesHoldingKeys = [...(await cluster.keyCounts()).values()].filter((count) => count > 0);
      assert.equal(nodesHoldingKeys.length, 1, 'every ledger key of one prefix lives in one slot');
    } finally {
      await Promise.all(replicas.map((ledger) => ledger.close()));
    }
  });
});
