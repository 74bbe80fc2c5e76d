// The loop breaker on a real (private, three-master) Redis Cluster: each agent's state in its budget group's slot, spread over the masters.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoopBreaker } from '../../../src/budget/loop-breaker.ts';
import { DEFAULT_LOOP } from '../../../src/budget/loop-policy.ts';
import { SharedLoopState } from '../../../src/budget/loop-shared.ts';
import type { LoopVerdict } from '../../../src/budget/loop-verdict.ts';
import { createRedisSharedState, type RedisSharedState } from '../../../src/ledger/redis/shared-state.ts';
import { PrivateCluster } from '../ledger/redis-test-support.ts';

describe('loop state on Redis Cluster', () => {
  let cluster: PrivateCluster;
  const replicas: RedisSharedState[] = [];
  before(async () => {
    cluster = await PrivateCluster.start();
    for (let i = 0; i < 3; i++) replicas.push(await createRedisSharedState({ url: cluster.url, cluster: true, keyPrefix: 'fleet-loop' }));
  });
  after(async () => {
    await Promise.all(replicas.map((replica) => replica.close()));
    await cluster?.stop();
  });

  it("30 agents in 10 budget groups, a turn's calls of many groups at once: the verdicts of one process, keys on every master", async () => {
    let now = Date.parse('2026-12-07T09:00:00Z');
    const loop = { ...DEFAULT_LOOP, sameToolCall: 3, escalateAfter: 2, action: 'hard_stop' as const };
    const groupOf = (agentId: string) => `shared:team-${Number(agentId.slice(1)) % 10}`;
    const shared = replicas.map(
      (replica) => new SharedLoopState({ script: (lua) => replica.script(lua), now: () => now, groupOf, onError: (error) => assert.fail(error) }),
    );
    const memory = new LoopBreaker({ now: () => now });
    const agents = Array.from({ length: 30 }, (_, i) => `a${i}`);
    const alone: (LoopVerdict | null)[] = [];
    const spread: Promise<LoopVerdict | null>[] = [];
    for (let round = 0; round < 8; round++) {
      now += 1000;
      for (const [index, agentId] of agents.entries()) {
        const fingerprint = { request: `r${round}`, toolCall: index % 4 === 0 ? `t${round}` : 'stuck' };
        alone.push(memory.observe({ agentId, fingerprint, settings: loop }));
        // every call of the round in flight at once, over the 3 replicas: each flush mixes groups
        spread.push(shared[(round + index) % 3].observe({ agentId, fingerprint, settings: loop }));
      }
      // an agent's next call waits for its last: the rounds keep each agent's order
      await Promise.all(spread);
    }
    assert.deepEqual(
      (await Promise.all(spread)).map((verdict) => verdict && { ...verdict }),
      alone.map((verdict) => verdict && { ...verdict }),
    );
    assert.ok(alone.some((verdict) => verdict?.level === 'hard_stop'));
    const nodesHoldingKeys = [...(await cluster.keyCounts()).values()].filter((count) => count > 0);
    assert.equal(nodesHoldingKeys.length, 3, '10 groups hash to slots on every master');
    assert.deepEqual(await shared[2].view('a1', loop), memory.view('a1', loop));
  });
});
