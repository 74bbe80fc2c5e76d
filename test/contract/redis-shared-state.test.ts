// Runs the shared-state contract on a real Redis, then what only replicas show: changes seen by all, outages, resync.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { sharedStateContract } from './shared-state-contract.ts';
import { createRedisSharedState } from '../../src/ledger/redis/shared-state.ts';
import { LedgerUnreachableError } from '../../src/ledger/ledger.ts';
import { RESYNC_ALL, SharedMirror } from '../../src/ledger/shared-state.ts';
import { dropPrefix, keysWithTtl, PrivateRedis, REDIS_URL, requireRedis, uniquePrefix, waitFor } from '../unit/ledger/redis-test-support.ts';

before(() => requireRedis());

sharedStateContract('redis', async () => {
  const prefix = uniquePrefix('shared');
  const state = await createRedisSharedState({ url: REDIS_URL, keyPrefix: prefix });
  return {
    state,
    cleanup: async () => {
      await state.close();
      await dropPrefix(prefix);
    },
  };
});

describe('redis shared state across replicas', () => {
  it('a put by one replica is announced to and read by the others; another prefix sees nothing', async () => {
    const prefix = uniquePrefix('replicas');
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => createRedisSharedState({ url: REDIS_URL, keyPrefix: prefix })));
    const other = await createRedisSharedState({ url: REDIS_URL, keyPrefix: uniquePrefix('other') });
    try {
      const heardB: string[] = [];
      const heardC: string[] = [];
      const heardOther: string[] = [];
      b.subscribe((key) => heardB.push(key));
      c.subscribe((key) => heardC.push(key));
      other.subscribe((key) => heardOther.push(key));
      await a.put('pool:openai:seed:OPENAI_API_KEY', '{"state":"cooldown"}', 10_000);
      await waitFor('b and c to hear the put', async () => heardB.length === 1 && heardC.length === 1);
      assert.deepEqual(heardB, ['pool:openai:seed:OPENAI_API_KEY']);
      assert.deepEqual(await c.get(['pool:openai:seed:OPENAI_API_KEY']), ['{"state":"cooldown"}']);
      assert.deepEqual(await other.get(['pool:openai:seed:OPENAI_API_KEY']), [null]);
      assert.equal(await b.claim('recheck:k', 'b', 10_000), true);
      assert.equal(await c.claim('recheck:k', 'c', 10_000), false);
      assert.equal(await a.count('fail:x', 10_000), 1);
      assert.equal(await c.count('fail:x', 10_000), 2);
      await sleep(50);
      assert.deepEqual(heardOther, []);
    } finally {
      await Promise.all([a, b, c, other].map((state) => state.close()));
      await dropPrefix(prefix);
    }
  });

  it('keys live under the ledger prefix hash tag, each with the TTL it was given', async () => {
    const prefix = uniquePrefix('layout');
    const state = await createRedisSharedState({ url: REDIS_URL, keyPrefix: prefix });
    try {
      await state.put('p', 'v', 5000);
      await state.put('forever', 'v', null);
      await state.count('n', 5000);
      const keys = await keysWithTtl(prefix);
      assert.deepEqual([...keys.keys()].sort(), [`{${prefix}}:shared:v1:n:n`, `{${prefix}}:shared:v1:v:forever`, `{${prefix}}:shared:v1:v:p`]);
      for (const [key, ttl] of keys) assert.ok(key.endsWith(':forever') ? ttl === -1 : ttl > 0 && ttl <= 5000, `${key} ${ttl}`);
    } finally {
      await state.close();
      await dropPrefix(prefix);
    }
  });

  it('while Redis is down operations reject as unreachable; after it returns, subscribers are told to resync', async () => {
    const redis = await PrivateRedis.start();
    const state = await createRedisSharedState({ url: redis.url, keyPrefix: uniquePrefix('outage') });
    const heard: string[] = [];
    state.subscribe((key) => heard.push(key));
    try {
      await state.put('k', 'v', 60_000);
      await redis.kill();
      await waitFor('the put to be refused', async () => {
        try {
          await state.put('k', 'w', 60_000);
          return false;
        } catch (error) {
          assert.ok(error instanceof LedgerUnreachableError, String(error));
          return true;
        }
      });
      await assert.rejects(state.get(['k']), LedgerUnreachableError);
      await redis.restart();
      await waitFor('a resync announcement', async () => heard.includes(RESYNC_ALL));
      await waitFor('writes to work again', async () =>
        state.put('k', 'x', 60_000).then(
          () => true,
          () => false,
        ),
      );
      // the subscription comes back on its own connection, maybe after the first write works: write until one is heard
      await waitFor('the subscription to be back', async () => {
        await state.put('k', 'y', 60_000).catch(() => undefined);
        return heard.filter((key) => key === 'k').length >= 2;
      });
    } finally {
      await state.close();
      await redis.kill();
    }
  });

  it('a SharedMirror follows another replica: reads are local, changes fetched once, resync reloads', async () => {
    const prefix = uniquePrefix('mirror');
    const [writer, reader] = await Promise.all([1, 2].map(() => createRedisSharedState({ url: REDIS_URL, keyPrefix: prefix })));
    const changes: [string, string | null][] = [];
    const mirror = new SharedMirror(reader, 'pool:', { onChange: (key, value) => changes.push([key, value]) });
    try {
      await writer.put('pool:a', '1', 60_000);
      await writer.put('circuit:x', 'open', 60_000); // outside the prefix: not mirrored
      await waitFor('the mirror to see pool:a', async () => mirror.value('pool:a') === '1');
      await writer.delete('pool:a');
      await waitFor('the mirror to drop pool:a', async () => mirror.value('pool:a') === null);
      assert.deepEqual(changes, [
        ['pool:a', '1'],
        ['pool:a', null],
      ]);
      assert.equal(mirror.value('circuit:x'), null);
    } finally {
      mirror.close();
      await Promise.all([writer.close(), reader.close()]);
      await dropPrefix(prefix);
    }
  });
});

describe('redis shared state scripts', () => {
  const LUA = 'local out = {} for i, key in ipairs(KEYS) do out[i] = redis.call("INCRBY", key, ARGV[1]) end return out';

  it('calls naming different numbers of keys in one turn all answer, and nothing throws outside them', async () => {
    // a command defined per key count on first use was missing from the auto-pipeline already pending in that turn:
    // the call failed and the pipeline's exec threw "results[i] is not iterable" as an uncaught exception
    const prefix = uniquePrefix('script');
    const state = await createRedisSharedState({ url: REDIS_URL, keyPrefix: prefix });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const run = state.script!(LUA);
      const counts = [1, 2, 3, 1, 5, 2, 8];
      const replies = await Promise.all(
        counts.map((count, call) =>
          run(
            Array.from({ length: count }, (_, i) => `k${call}:${i}`),
            [call + 1],
          ),
        ),
      );
      assert.deepEqual(
        replies,
        counts.map((count, call) => Array.from({ length: count }, () => call + 1)),
      );
      await sleep(50);
      assert.deepEqual(uncaught, []);
    } finally {
      process.off('uncaughtException', onUncaught);
      await state.close();
      await dropPrefix(prefix);
    }
  });

  it('a server that lost its scripts (SCRIPT FLUSH) runs the call once, from the text', async () => {
    const redis = await PrivateRedis.start(); // its own server: flushing the shared one would touch other tests' scripts
    const state = await createRedisSharedState({ url: redis.url, keyPrefix: uniquePrefix('noscript') });
    const admin = new Redis(redis.url);
    try {
      const run = state.script!(LUA);
      assert.deepEqual(await run(['a'], [2]), [2]);
      await admin.script('FLUSH');
      assert.deepEqual(await run(['a'], [3]), [5], 'counted once: the refused EVALSHA did not run');
    } finally {
      admin.disconnect();
      await state.close();
      await redis.kill();
    }
  });
});
