// The Redis ledger's per-call shortcuts (decoded states kept by their bytes, checks and scope lists kept by their text) never mix up scopes.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Amounts, Ledger, LimitCheck } from '../../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { makeTestLedger, requireRedis } from './redis-test-support.ts';

before(() => requireRedis());

const HOUR = 3_600_000;

function limit(scope: string, windowMs: number, max = Number.MAX_SAFE_INTEGER): LimitCheck {
  return { id: `${scope}/usd/${windowMs}`, scope, metric: 'usd_micros', windowMs, limit: max };
}

function concurrency(scope: string): LimitCheck {
  return { id: `${scope}/concurrency`, scope, metric: 'concurrency', windowMs: 0, limit: 1_000 };
}

async function spend(ledger: Ledger, scopes: string[], amounts: Amounts): Promise<void> {
  const id = randomUUID();
  assert.equal((await ledger.reserve({ id, scopes, amounts, checks: scopes.map((scope) => limit(scope, HOUR)), leaseMs: 30_000 })).admitted, true);
  assert.equal(await ledger.settle({ id, amounts }), true);
}

/** used and reserved of each check, as one list to compare. */
async function standings(ledger: Ledger, checks: LimitCheck[]): Promise<number[][]> {
  return (await ledger.standing(checks)).map((standing) => [standing.used, standing.reserved]);
}

describe('redis ledger per-call shortcuts', () => {
  it('keeps scopes with byte-identical states apart as one of them changes', async () => {
    const { ledger, cleanup } = await makeTestLedger('memo-twins');
    const memory = new MemoryLedger({ sweepIntervalMs: 0 });
    try {
      const tag = randomUUID().slice(0, 8);
      // the same usage and holds on three scopes: their state hashes hold the same bytes
      const scopes = ['a', 'b', 'c'].map((name) => `agent:${name}-${tag}`);
      const checks = scopes.flatMap((scope) => [limit(scope, HOUR), limit(scope, 24 * HOUR), concurrency(scope)]);
      for (const target of [ledger, memory]) {
        for (const scope of scopes) await spend(target, [scope], { usd_micros: 1_000 });
        for (const scope of scopes) await target.reserve({ id: `held-${scope}`, scopes: [scope], amounts: { usd_micros: 5 }, checks: [], leaseMs: 30_000 });
      }
      assert.deepEqual(await standings(ledger, checks), await standings(memory, checks));
      // now only the first one changes, in a call that reads all three
      for (const target of [ledger, memory]) {
        await spend(target, scopes, { usd_micros: 0 });
        await spend(target, [scopes[0]], { usd_micros: 7 });
        await target.settle({ id: `held-${scopes[0]}`, amounts: { usd_micros: 3 } });
      }
      const [redis, expected] = [await standings(ledger, checks), await standings(memory, checks)];
      assert.deepEqual(redis, expected);
      assert.deepEqual(redis.slice(3), [
        [1_000, 5],
        [1_000, 5],
        [1, 0],
        [1_000, 5],
        [1_000, 5],
        [1, 0],
      ]);
    } finally {
      await cleanup();
      await memory.close();
    }
  });

  it('answers a refused call and the calls after it as if nothing was kept', async () => {
    const { ledger, cleanup } = await makeTestLedger('memo-refused');
    try {
      const scope = `agent:${randomUUID().slice(0, 8)}`;
      const checks = [limit(scope, HOUR), concurrency(scope)];
      const id = randomUUID();
      await ledger.reserve({ id, scopes: [scope], amounts: { usd_micros: 40 }, checks, leaseMs: 30_000 });
      // refused after reading the state: the id is already open, then already settled
      await assert.rejects(ledger.reserve({ id, scopes: [scope], amounts: { usd_micros: 40 }, checks, leaseMs: 30_000 }), /already open/);
      assert.equal(await ledger.settle({ id, amounts: { usd_micros: 30 } }), true);
      await assert.rejects(ledger.reserve({ id, scopes: [scope], amounts: { usd_micros: 40 }, checks, leaseMs: 30_000 }), /released or settled/);
      assert.equal(await ledger.settle({ id, amounts: { usd_micros: 30 } }), false, 'a retried settle counts nothing');
      await spend(ledger, [scope], { usd_micros: 2 });
      assert.deepEqual(await standings(ledger, checks), [
        [32, 0],
        [0, 0],
      ]);
    } finally {
      await cleanup();
    }
  });

  it('checks the scope a reserve names when another scope sent the same checks before', async () => {
    const { ledger, cleanup } = await makeTestLedger('memo-checks');
    try {
      const tag = randomUUID().slice(0, 8);
      const [full, empty] = [`agent:full-${tag}`, `agent:empty-${tag}`];
      await spend(ledger, [full], { usd_micros: 100 });
      // the same limit on two scopes: the checks argument holds the same bytes (scope 1, metric, window, limit)
      const refused = await ledger.reserve({ id: randomUUID(), scopes: [full], amounts: { usd_micros: 1 }, checks: [limit(full, HOUR, 100)], leaseMs: 30_000 });
      assert.equal(refused.admitted, false);
      const admitted = await ledger.reserve({
        id: randomUUID(),
        scopes: [empty],
        amounts: { usd_micros: 1 },
        checks: [limit(empty, HOUR, 100)],
        leaseMs: 30_000,
      });
      assert.equal(admitted.admitted, true, 'the empty scope is checked, not the full one');
      assert.equal(admitted.standings[0].used, 0);
    } finally {
      await cleanup();
    }
  });

  it('stays exact for more scopes than the decoded states it keeps', async () => {
    // 3,000 script calls issued at once: at a 1 s command timeout the last in Redis's queue can time out on a loaded
    // machine (then, fail-fast, the rest fail unsent), and this test is about exact sums, not about timeouts
    const { ledger, cleanup } = await makeTestLedger('memo-many', { commandTimeoutMs: 30_000 });
    try {
      const tag = randomUUID().slice(0, 8);
      // 3 fields per scope: 1,500 scopes are more than the 4,000 lists kept, so the keep starts over on the way
      const scopes = Array.from({ length: 1_500 }, (_, index) => `agent:${index}-${tag}`);
      await Promise.all(scopes.map((scope, index) => spend(ledger, [scope], { usd_micros: index + 1 })));
      await Promise.all(scopes.map((scope) => spend(ledger, [scope], { usd_micros: 1 })));
      const used = (await ledger.standing(scopes.map((scope) => limit(scope, HOUR)))).map((standing) => standing.used);
      assert.deepEqual(
        used,
        scopes.map((_, index) => index + 2),
      );
    } finally {
      await cleanup();
    }
  });
});
