// The ledger contract: behaviour every Ledger implementation must show, in real time with short windows and unique scopes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Amounts, Ledger, LimitCheck, Metric, ReserveInput } from '../../src/ledger/ledger.ts';

export type MakeLedger = () => Promise<{ ledger: Ledger; cleanup: () => Promise<void> }>;

/** Clocks may differ by rounding (Redis TIME vs Date.now on the same host): allowed slack below an exact bound. */
const CLOCK_SLACK_MS = 5;
/** Implementations may round window bookkeeping up to 1 s buckets: allowed slack above an exact bound. */
const BUCKET_SLACK_MS = 1000;
const LEASE_MS = 30_000;
const SUMMED_METRICS: readonly Metric[] = ['usd_micros', 'requests', 'input_tokens', 'output_tokens', 'total_tokens', 'unknown_cost_requests'];

function uniqueScope(kind: 'agent' | 'shared' = 'agent'): string {
  return `${kind}:contract-${randomUUID().slice(0, 12)}`;
}

function check(scope: string, metric: LimitCheck['metric'], limit: number, windowMs = 2000): LimitCheck {
  return { id: `${scope}/${metric}/${windowMs}`, scope, metric, windowMs, limit };
}

function input(scopes: string[], amounts: Amounts, checks: LimitCheck[], leaseMs = LEASE_MS): ReserveInput {
  return { id: randomUUID(), scopes, amounts, checks, leaseMs };
}

/** Reserves and settles `amounts` on the scopes; returns the wall-clock interval in which the settlement happened. */
async function spend(ledger: Ledger, scopes: string[], amounts: Amounts): Promise<{ before: number; after: number }> {
  const reservation = input(scopes, amounts, []);
  assert.equal((await ledger.reserve(reservation)).admitted, true);
  const before = Date.now();
  assert.equal(await ledger.settle({ id: reservation.id, amounts }), true);
  return { before, after: Date.now() };
}

export function ledgerContract(name: string, makeLedger: MakeLedger): void {
  const withLedger = (body: (ledger: Ledger) => Promise<void>) => async () => {
    const { ledger, cleanup } = await makeLedger();
    try {
      await body(ledger);
    } finally {
      await cleanup();
    }
  };

  describe(`ledger contract: ${name}`, { concurrency: true }, () => {
    it(
      'admits a request under the limit and reports its standing',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const outcome = await ledger.reserve(input([scope], { usd_micros: 400, requests: 1 }, [check(scope, 'usd_micros', 1000), check(scope, 'requests', 5)]));
        assert.equal(outcome.admitted, true);
        assert.equal(outcome.standings.length, 2);
        assert.equal(outcome.standings[0].id, `${scope}/usd_micros/2000`);
        assert.equal(outcome.standings[0].reserved, 400, 'admitted standings include the new hold');
        assert.equal(outcome.standings[0].remaining, 600);
        assert.equal(outcome.standings[1].remaining, 4);
      }),
    );

    it(
      'blocks at the limit for every summed metric',
      withLedger(async (ledger) => {
        for (const metric of SUMMED_METRICS) {
          const scope = uniqueScope();
          const limit = check(scope, metric, 3);
          await spend(ledger, [scope], { [metric]: 3 });
          const outcome = await ledger.reserve(input([scope], { [metric]: 1 }, [limit]));
          assert.equal(outcome.admitted, false, `${metric} at its limit must block`);
          assert.ok(!outcome.admitted);
          assert.equal(outcome.blocked.id, limit.id);
          assert.equal(outcome.blocked.used, 3);
          assert.equal(outcome.blocked.remaining, 0);
        }
      }),
    );

    it(
      'gives a retry time that lets the request fit, and retrying after it succeeds',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        // The gap between the two spends exceeds the bucket slack, so answering "the whole window" (or the time until
        // the newer spend leaves) fails the upper bound.
        const windowMs = 3000;
        const limit = check(scope, 'usd_micros', 10, windowMs);
        const first = await spend(ledger, [scope], { usd_micros: 6 });
        await sleep(BUCKET_SLACK_MS + 300);
        await spend(ledger, [scope], { usd_micros: 4 });
        const asked = Date.now();
        const outcome = await ledger.reserve(input([scope], { usd_micros: 3 }, [limit]));
        const answered = Date.now();
        assert.ok(!outcome.admitted);
        assert.notEqual(outcome.retryAfterMs, null);
        const retry = outcome.retryAfterMs!;
        // Exact answer: (time of the first settlement) + window - (time of the check); bounded by what we measured.
        assert.ok(retry >= first.before + windowMs - answered - CLOCK_SLACK_MS, `retry ${retry} ms is earlier than the first spend leaves`);
        assert.ok(retry <= first.after + windowMs - asked + BUCKET_SLACK_MS, `retry ${retry} ms is later than needed`);
        await sleep(retry + 20);
        assert.equal((await ledger.reserve(input([scope], { usd_micros: 3 }, [limit]))).admitted, true);
      }),
    );

    it(
      'answers a null retry when waiting alone cannot make the request fit',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const limit = check(scope, 'usd_micros', 10);
        const alone = await ledger.reserve(input([scope], { usd_micros: 11 }, [limit]));
        assert.ok(!alone.admitted);
        assert.equal(alone.retryAfterMs, null);
        assert.equal((await ledger.reserve(input([scope], { usd_micros: 8 }, [limit]))).admitted, true);
        const held = await ledger.reserve(input([scope], { usd_micros: 5 }, [limit]));
        assert.ok(!held.admitted);
        assert.equal(held.retryAfterMs, null, 'the room is held by a reservation, not by settled usage');
      }),
    );

    it(
      'settles exactly once and counts the actual amounts once',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const limit = check(scope, 'usd_micros', 1000);
        const reservation = input([scope], { usd_micros: 500 }, [limit]);
        assert.equal((await ledger.reserve(reservation)).admitted, true);
        assert.equal(await ledger.settle({ id: reservation.id, amounts: { usd_micros: 120 } }), true);
        assert.equal(await ledger.settle({ id: reservation.id, amounts: { usd_micros: 120 } }), false);
        assert.equal(await ledger.release(reservation.id), false);
        const [standing] = await ledger.standing([limit]);
        assert.equal(standing.used, 120);
        assert.equal(standing.reserved, 0);

        const released = input([scope], { usd_micros: 5 }, [limit]);
        await ledger.reserve(released);
        assert.equal(await ledger.release(released.id), true);
        assert.equal(await ledger.settle({ id: released.id, amounts: { usd_micros: 5 } }), false);
        assert.equal((await ledger.standing([limit]))[0].used, 120);
        assert.equal(await ledger.settle({ id: randomUUID(), amounts: { usd_micros: 1 } }), false, 'unknown ids settle nothing');
      }),
    );

    it(
      'remembers a release that came before its reserve: the reserve, run late, holds nothing',
      withLedger(async (ledger) => {
        // a replica whose reserve got no reply releases it by id; a stalled store may run that reserve only afterwards
        const scope = uniqueScope();
        const limits = [check(scope, 'usd_micros', 100), check(scope, 'concurrency', 1, 0)];
        const late = input([scope], { usd_micros: 60, requests: 1 }, limits);
        assert.equal(await ledger.release(late.id, late.scopes), false, 'nothing was open yet');
        await assert.rejects(ledger.reserve(late), /already/);
        const standings = await ledger.standing(limits);
        assert.deepEqual(
          standings.map((standing) => [standing.used, standing.reserved]),
          [
            [0, 0],
            [0, 0],
          ],
          'no hold, no slot',
        );
        assert.equal(await ledger.settle({ id: late.id, amounts: { usd_micros: 60 } }), false, 'nothing to settle');
        assert.equal((await ledger.reserve(input([scope], { usd_micros: 100, requests: 1 }, limits))).admitted, true, 'all the room is free');
      }),
    );

    it(
      'counts a settle once by id: a retry counts nothing, and one with orRecord records when nothing is open',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const shared = uniqueScope('shared');
        const limit = check(scope, 'usd_micros', 1000);
        const held = input([scope], { usd_micros: 500 }, [limit]);
        assert.equal((await ledger.reserve(held)).admitted, true);
        const orRecord = { scopes: [scope], at: Date.now() };
        assert.equal(await ledger.settle({ id: held.id, amounts: { usd_micros: 120 }, orRecord }), true);
        assert.equal(await ledger.settle({ id: held.id, amounts: { usd_micros: 120 }, orRecord }), false, 'a retried settle counts nothing');
        assert.equal(await ledger.release(held.id), false);
        assert.deepEqual(
          (await ledger.standing([limit])).map((standing) => [standing.used, standing.reserved]),
          [[120, 0]],
        );

        // a call whose reserve got no reply, passed in open mode: counted once on the scopes named, whatever is retried
        const unanswered = randomUUID();
        const fallback = { scopes: [scope, shared, scope], at: Date.now() };
        assert.equal(await ledger.settle({ id: unanswered, amounts: { usd_micros: 30, requests: 1 }, orRecord: fallback }), true);
        assert.equal(await ledger.settle({ id: unanswered, amounts: { usd_micros: 30, requests: 1 }, orRecord: fallback }), false);
        const [agentUsed, sharedUsed] = await ledger.standing([limit, check(shared, 'requests', 10)]);
        assert.deepEqual([agentUsed.used, sharedUsed.used], [150, 1], 'recorded once, each scope once');
        await assert.rejects(
          ledger.reserve({ ...input([scope], { usd_micros: 30 }, [limit]), id: unanswered }),
          /already/,
          'its reserve, run late, holds nothing',
        );
        assert.equal((await ledger.standing([limit]))[0].reserved, 0);
      }),
    );

    it(
      'records through orRecord a settle whose lease expired, once',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const limit = check(scope, 'usd_micros', 100);
        const holder = input([scope], { usd_micros: 50 }, [limit], 300);
        assert.equal((await ledger.reserve(holder)).admitted, true);
        await sleep(600);
        assert.equal(await ledger.settle({ id: holder.id, amounts: { usd_micros: 40 } }), false, 'expired: nothing to settle');
        const orRecord = { scopes: [scope], at: Date.now() };
        assert.equal(await ledger.settle({ id: holder.id, amounts: { usd_micros: 40 }, orRecord }), true);
        assert.equal(await ledger.settle({ id: holder.id, amounts: { usd_micros: 40 }, orRecord }), false);
        assert.deepEqual(
          (await ledger.standing([limit])).map((standing) => [standing.used, standing.reserved]),
          [[40, 0]],
        );
      }),
    );

    it(
      'frees the hold on release',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const limit = check(scope, 'usd_micros', 10);
        const holder = input([scope], { usd_micros: 10 }, [limit]);
        assert.equal((await ledger.reserve(holder)).admitted, true);
        assert.equal((await ledger.reserve(input([scope], { usd_micros: 1 }, [limit]))).admitted, false);
        assert.equal(await ledger.release(holder.id), true);
        assert.equal(await ledger.release(holder.id), false);
        assert.equal((await ledger.reserve(input([scope], { usd_micros: 10 }, [limit]))).admitted, true);
      }),
    );

    it(
      'frees the hold when the lease expires, and then refuses its settle',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const limit = check(scope, 'usd_micros', 10);
        const holder = input([scope], { usd_micros: 10 }, [limit], 300);
        assert.equal((await ledger.reserve(holder)).admitted, true);
        assert.equal((await ledger.reserve(input([scope], { usd_micros: 1 }, [limit]))).admitted, false);
        await sleep(600);
        const [standing] = await ledger.standing([limit]);
        assert.equal(standing.reserved, 0);
        assert.equal(await ledger.settle({ id: holder.id, amounts: { usd_micros: 10 } }), false);
        assert.equal((await ledger.standing([limit]))[0].used, 0);
        assert.equal((await ledger.reserve(input([scope], { usd_micros: 10 }, [limit]))).admitted, true);
      }),
    );

    it(
      'limits concurrency by open reservations',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const limit = check(scope, 'concurrency', 2, 0); // windowMs 0, as the budget engine builds a max_concurrent check
        const first = input([scope], { requests: 1 }, [limit]);
        assert.equal((await ledger.reserve(first)).admitted, true);
        const second = await ledger.reserve(input([scope], { requests: 1 }, [limit]));
        assert.ok(second.admitted);
        assert.equal(second.standings[0].used, 2);
        const third = await ledger.reserve(input([scope], { requests: 1 }, [limit]));
        assert.ok(!third.admitted);
        assert.equal(third.retryAfterMs, null);
        assert.equal(third.blocked.used, 2);
        assert.equal(await ledger.settle({ id: first.id, amounts: { requests: 1 } }), true);
        assert.equal((await ledger.reserve(input([scope], { requests: 1 }, [limit]))).admitted, true);
        assert.deepEqual(
          (await ledger.standing([limit])).map((standing) => standing.used),
          [2],
          'standing answers a concurrency check too',
        );
      }),
    );

    it(
      'checks an agent scope and a shared scope together, and settles into both',
      withLedger(async (ledger) => {
        const agent = uniqueScope('agent');
        const other = uniqueScope('agent');
        const shared = uniqueScope('shared');
        const agentLimit = check(agent, 'usd_micros', 100);
        const sharedLimit = check(shared, 'usd_micros', 10);
        const refusedByShared = await ledger.reserve(input([agent, shared], { usd_micros: 11 }, [agentLimit, sharedLimit]));
        assert.ok(!refusedByShared.admitted);
        assert.equal(refusedByShared.blocked.id, sharedLimit.id);

        const reservation = input([agent, shared], { usd_micros: 8 }, [agentLimit, sharedLimit]);
        assert.equal((await ledger.reserve(reservation)).admitted, true);
        assert.equal(await ledger.settle({ id: reservation.id, amounts: { usd_micros: 7 } }), true);
        const [agentStanding, sharedStanding] = await ledger.standing([agentLimit, sharedLimit]);
        assert.equal(agentStanding.used, 7);
        assert.equal(sharedStanding.used, 7);

        const otherLimit = check(other, 'usd_micros', 100);
        const refusedForOther = await ledger.reserve(input([other, shared], { usd_micros: 4 }, [otherLimit, sharedLimit]));
        assert.ok(!refusedForOther.admitted, 'another agent drawing from the same shared budget is refused');
        assert.equal(refusedForOther.blocked.id, sharedLimit.id);
        const refusedByAgent = await ledger.reserve(input([agent, shared], { usd_micros: 94 }, [agentLimit, check(shared, 'usd_micros', 1000)]));
        assert.ok(!refusedByAgent.admitted);
        assert.equal(refusedByAgent.blocked.id, agentLimit.id);
      }),
    );

    it(
      'admits exactly as many of 50 concurrent reservations as fit',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const limit = check(scope, 'usd_micros', 1000, 60_000);
        const outcomes = await Promise.all(Array.from({ length: 50 }, () => ledger.reserve(input([scope], { usd_micros: 100 }, [limit]))));
        assert.equal(outcomes.filter((outcome) => outcome.admitted).length, 10);
        const [standing] = await ledger.standing([limit]);
        assert.equal(standing.reserved, 1000);
        assert.equal(standing.remaining, 0);
      }),
    );

    it(
      'reports used, reserved, remaining and reset in the standing',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const windowMs = 3000;
        const limit = check(scope, 'usd_micros', 1000, windowMs);
        const [empty] = await ledger.standing([limit]);
        assert.deepEqual([empty.used, empty.reserved, empty.remaining, empty.resetMs], [0, 0, 1000, null]);
        const spent = await spend(ledger, [scope], { usd_micros: 300 });
        await ledger.reserve(input([scope], { usd_micros: 200 }, [limit]));
        const asked = Date.now();
        const [standing] = await ledger.standing([limit]);
        const answered = Date.now();
        assert.equal(standing.id, limit.id);
        assert.equal(standing.scope, scope);
        assert.equal(standing.metric, 'usd_micros');
        assert.equal(standing.limit, 1000);
        assert.equal(standing.windowMs, windowMs);
        assert.equal(standing.used, 300);
        assert.equal(standing.reserved, 200);
        assert.equal(standing.remaining, 500);
        assert.notEqual(standing.resetMs, null);
        assert.ok(standing.resetMs! >= spent.before + windowMs - answered - CLOCK_SLACK_MS, `resetMs ${standing.resetMs} too early`);
        assert.ok(standing.resetMs! <= spent.after + windowMs - asked + BUCKET_SLACK_MS, `resetMs ${standing.resetMs} too late`);
      }),
    );

    it(
      'rolls the window: usage leaves after windowMs',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const limit = check(scope, 'requests', 1, 1000);
        await spend(ledger, [scope], { requests: 1 });
        assert.equal((await ledger.reserve(input([scope], { requests: 1 }, [limit]))).admitted, false);
        await sleep(1000 + BUCKET_SLACK_MS + 100);
        const [standing] = await ledger.standing([limit]);
        assert.equal(standing.used, 0);
        assert.equal(standing.resetMs, null);
        assert.equal((await ledger.reserve(input([scope], { requests: 1 }, [limit]))).admitted, true);
      }),
    );

    it(
      'records usage without a reservation, counted only inside the window',
      withLedger(async (ledger) => {
        const scope = uniqueScope();
        const shared = uniqueScope('shared');
        const limit = check(scope, 'usd_micros', 1000, 60_000);
        await ledger.record({ scopes: [scope, shared], amounts: { usd_micros: 250, requests: 1 }, at: Date.now() - 1000 });
        await ledger.record({ scopes: [scope], amounts: { usd_micros: 400 }, at: Date.now() - 120_000 });
        const [standing, sharedStanding] = await ledger.standing([limit, check(shared, 'requests', 5, 60_000)]);
        assert.equal(standing.used, 250);
        assert.equal(sharedStanding.used, 1);
      }),
    );

    it(
      'claims a one-off notice once until its TTL passes',
      withLedger(async (ledger) => {
        const key = `alert:${uniqueScope()}/usd/1h@0.5`;
        const first = await ledger.claimOnce({ key, ttlMs: 400 });
        assert.deepEqual(first, { claimed: true, heldForMs: 400 });
        const [second, third] = await Promise.all([ledger.claimOnce({ key, ttlMs: 400 }), ledger.claimOnce({ key, ttlMs: 400 })]);
        assert.equal(second.claimed || third.claimed, false, 'nobody else claims it while it holds');
        assert.ok(second.heldForMs > 0 && second.heldForMs <= 400, `held for ${second.heldForMs} ms`);
        assert.equal((await ledger.claimOnce({ key: `${key}-other`, ttlMs: 400 })).claimed, true, 'keys are independent');
        await sleep(450 + CLOCK_SLACK_MS);
        assert.equal((await ledger.claimOnce({ key, ttlMs: 400 })).claimed, true, 'claimable again once expired');
      }),
    );

    it(
      'reports itself healthy',
      withLedger(async (ledger) => {
        const health = await ledger.health();
        assert.equal(health.ok, true);
        assert.ok(health.kind === 'memory' || health.kind === 'redis');
      }),
    );
  });
}
