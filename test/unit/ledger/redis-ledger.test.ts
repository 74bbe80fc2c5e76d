// Redis ledger beyond the contract: replicas sharing limits, long windows, bounded keys, layout guard, dead replica leases.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LimitCheck, ReserveInput } from '../../../src/ledger/ledger.ts';
import { createRedisLedger } from '../../../src/ledger/redis/ledger.ts';
import { keysWithTtl, makeTestLedger, REDIS_URL, requireRedis } from './redis-test-support.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function check(scope: string, metric: LimitCheck['metric'], limit: number, windowMs: number): LimitCheck {
  return { id: `${scope}/${metric}/${windowMs}`, scope, metric, windowMs, limit };
}

function reservation(scopes: string[], usd: number, checks: LimitCheck[], leaseMs = 30_000): ReserveInput {
  return { id: randomUUID(), scopes, amounts: { usd_micros: usd, requests: 1 }, checks, leaseMs };
}

before(() => requireRedis());

describe('redis ledger', () => {
  it('shares limits between replicas: 60 reservations over 3 ledgers admit exactly what fits', async () => {
    const first = await makeTestLedger('replicas');
    const others = await Promise.all([1, 2].map(() => createRedisLedger({ url: REDIS_URL, keyPrefix: first.prefix })));
    const replicas = [first.ledger, ...others];
    try {
      const limit = check('shared:team', 'usd_micros', 10_000, HOUR);
      const outcomes = await Promise.all(
        Array.from({ length: 60 }, (_, index) => replicas[index % 3].reserve(reservation(['agent:a', 'shared:team'], 1000, [limit]))),
      );
      assert.equal(outcomes.filter((outcome) => outcome.admitted).length, 10);
      const [standing] = await others[1].standing([limit]);
      assert.equal(standing.reserved, 10_000);
    } finally {
      await Promise.all(others.map((ledger) => ledger.close()));
      await first.cleanup();
    }
  });

  it('counts long windows from coarser buckets, exact to their bucket size', async () => {
    const { ledger, cleanup } = await makeTestLedger('long');
    try {
      const scope = 'agent:long';
      await ledger.record({ scopes: [scope], amounts: { usd_micros: 700 }, at: Date.now() - 2 * HOUR });
      await ledger.record({ scopes: [scope], amounts: { usd_micros: 200 }, at: Date.now() - 20 * DAY });
      const hour = check(scope, 'usd_micros', 1000, HOUR);
      const sixHours = check(scope, 'usd_micros', 1000, 6 * HOUR);
      const month = check(scope, 'usd_micros', 1000, 30 * DAY);
      const [inHour, inSixHours, inMonth] = await ledger.standing([hour, sixHours, month]);
      assert.equal(inHour.used, 0);
      assert.equal(inSixHours.used, 700);
      assert.equal(inMonth.used, 900);

      const asked = Date.now();
      const outcome = await ledger.reserve(reservation([scope], 400, [sixHours]));
      assert.ok(!outcome.admitted);
      const exact = asked - 2 * HOUR + 6 * HOUR - asked;
      assert.ok(outcome.retryAfterMs! >= exact - 100, `retry ${outcome.retryAfterMs} before the usage leaves`);
      assert.ok(outcome.retryAfterMs! <= exact + 15_000 + 100, `retry ${outcome.retryAfterMs} later than one 15 s bucket`);
    } finally {
      await cleanup();
    }
  });

  it('gives every key but the layout and lifetime totals an expiry, all under one hash tag', async () => {
    const { ledger, prefix, cleanup } = await makeTestLedger('ttl');
    try {
      const limit = check('agent:t', 'usd_micros', 100, MINUTE);
      const held = reservation(['agent:t', 'shared:s'], 10, [limit]);
      await ledger.reserve(held);
      await ledger.reserve(reservation(['agent:t'], 10, [limit]));
      await ledger.settle({ id: held.id, amounts: { usd_micros: 7 } });
      await ledger.record({ scopes: ['agent:t'], amounts: { requests: 1 }, at: Date.now() - 10 * DAY });
      const keys = await keysWithTtl(prefix);
      assert.ok(keys.size >= 6, `expected usage, hold and reservation keys, got ${[...keys.keys()].join(' ')}`);
      for (const [key, ttl] of keys) {
        assert.ok(key.startsWith(`{${prefix}}:v3:`), key);
        // a scope's state (lifetime totals, window sums) is kept for good, one key per scope, and one set per agent or
        // shared budget naming its scopes (agents and shared budgets: not per call, nor per session)
        if (key.endsWith(':layout') || key.endsWith(':born') || /:[se]:(agent|shared):/.test(key)) assert.equal(ttl, -1, key);
        // A bucket hash expires with its newest bucket: at most 112 buckets (112 h at the 1 h level) past the retention.
        else assert.ok(ttl > 0 && ttl <= 35 * DAY + 112 * HOUR, `${key} expires (${ttl} ms)`);
      }
    } finally {
      await cleanup();
    }
  });

  it('refuses to mix layouts in one namespace, and says so in health', async () => {
    const { ledger, prefix, cleanup } = await makeTestLedger('layout');
    const other = await createRedisLedger({ url: REDIS_URL, keyPrefix: prefix, bucketMs: 500 });
    try {
      await ledger.standing([check('agent:x', 'requests', 1, MINUTE)]);
      await assert.rejects(other.standing([check('agent:x', 'requests', 1, MINUTE)]), /layout mismatch/);
      const health = await other.health();
      assert.equal(health.ok, false);
      assert.match(health.detail ?? '', /layout mismatch/);
      assert.equal((await ledger.health()).ok, true);
    } finally {
      await other.close();
      await cleanup();
    }
  });

  it('rejects re-using the id of an open reservation, and of one ended until its tombstone expires', async () => {
    const { ledger, prefix, cleanup } = await makeTestLedger('dup', { tombstoneMs: 300 });
    try {
      const input = reservation(['agent:d'], 1, []);
      assert.equal((await ledger.reserve(input)).admitted, true);
      await assert.rejects(ledger.reserve(input), /already open/);
      assert.equal(await ledger.release(input.id), true);
      await assert.rejects(ledger.reserve(input), /already released or settled/);
      const tombstone = [...(await keysWithTtl(prefix))].find(([key]) => key.endsWith(`:t:${input.id}`));
      assert.ok(tombstone && tombstone[1] > 0 && tombstone[1] <= 300, `the tombstone expires by itself: ${JSON.stringify(tombstone)}`);
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal((await ledger.reserve(input)).admitted, true);
    } finally {
      await cleanup();
    }
  });

  it('frees the holds of a replica that died with reservations in flight when their leases end', async () => {
    const survivor = await makeTestLedger('dead');
    const doomed = await createRedisLedger({ url: REDIS_URL, keyPrefix: survivor.prefix });
    try {
      const limit = check('shared:pool', 'usd_micros', 100, MINUTE);
      const concurrency = check('shared:pool', 'concurrency', 3, MINUTE);
      const inFlight = [reservation(['shared:pool'], 40, [limit, concurrency], 400), reservation(['shared:pool'], 40, [limit, concurrency], 400)];
      for (const input of inFlight) assert.equal((await doomed.reserve(input)).admitted, true);
      await doomed.close(); // the replica is gone; it never settles

      const blocked = await survivor.ledger.reserve(reservation(['shared:pool'], 40, [limit, concurrency]));
      assert.ok(!blocked.admitted, 'the dead replica still holds 80 of 100 within its lease');
      await sleep(700);
      const [usd, open] = await survivor.ledger.standing([limit, concurrency]);
      assert.equal(usd.reserved, 0);
      assert.equal(open.used, 0);
      assert.equal(await survivor.ledger.settle({ id: inFlight[0].id, amounts: { usd_micros: 40 } }), false);
      assert.equal((await survivor.ledger.reserve(reservation(['shared:pool'], 100, [limit, concurrency]))).admitted, true);
    } finally {
      await survivor.cleanup();
    }
  });

  it('answers a standing of thousands of checks, as the admin summary asks for a fleet', async () => {
    const { ledger, cleanup } = await makeTestLedger('standing-many');
    try {
      const tag = randomUUID().slice(0, 8);
      // 500 agents, 5 metrics each over a day: 2,500 checks (one script call would unpack 17,500 numbers at once)
      const scopes = Array.from({ length: 500 }, (_, index) => `agent:${index}-${tag}`);
      await ledger.recordMany(scopes.map((scope, index) => ({ scopes: [scope], amounts: { usd_micros: index + 1, requests: 1 }, at: Date.now() })));
      const metrics: LimitCheck['metric'][] = ['usd_micros', 'requests', 'input_tokens', 'output_tokens', 'unknown_cost_requests'];
      const checks = scopes.flatMap((scope) => metrics.map((metric) => check(scope, metric, Number.MAX_SAFE_INTEGER, DAY)));
      const standings = await ledger.standing(checks);
      assert.equal(standings.length, checks.length);
      assert.deepEqual(
        standings.filter((_, index) => index % 5 === 0).map((standing) => standing.used),
        scopes.map((_, index) => index + 1),
      );
      assert.ok(standings.filter((_, index) => index % 5 === 1).every((standing) => standing.used === 1));
    } finally {
      await cleanup();
    }
  });

  it('records a batch in one call and drops what is older than the retention', async () => {
    const { ledger, cleanup } = await makeTestLedger('batch', { retentionMs: DAY });
    try {
      const now = Date.now();
      const entries = Array.from({ length: 1200 }, (_, index) => ({
        scopes: ['agent:b', 'shared:b'],
        amounts: { usd_micros: 1, requests: 1 },
        at: now - index * 1000,
      }));
      entries.push({ scopes: ['agent:b'], amounts: { usd_micros: 1000, requests: 1 }, at: now - 2 * DAY });
      assert.equal(await ledger.recordMany(entries), 1200);
      const [agent, shared] = await ledger.standing([check('agent:b', 'usd_micros', 1, HOUR), check('shared:b', 'requests', 1, HOUR)]);
      assert.equal(agent.used, 1200);
      assert.equal(shared.used, 1200);
    } finally {
      await cleanup();
    }
  });
});
