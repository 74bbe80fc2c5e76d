// The ledger contract for windows that do not roll: calendar periods, lifetime totals and session scopes (idle expiry).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Amounts, Ledger, LimitCheck } from '../../src/ledger/ledger.ts';
import type { MakeLedger } from './ledger-contract.ts';

const DAY = 86_400_000;

function scopeOf(kind = 'agent'): string {
  return `${kind}:win-${randomUUID().slice(0, 12)}`;
}

async function spend(ledger: Ledger, scopes: string[], amounts: Amounts): Promise<void> {
  const id = randomUUID();
  assert.equal((await ledger.reserve({ id, scopes, amounts, checks: [], leaseMs: 30_000 })).admitted, true);
  assert.equal(await ledger.settle({ id, amounts }), true);
}

export function windowsContract(name: string, makeLedger: MakeLedger): void {
  const withLedger = (body: (ledger: Ledger) => Promise<void>) => async () => {
    const { ledger, cleanup } = await makeLedger();
    try {
      await body(ledger);
    } finally {
      await cleanup();
    }
  };

  describe(`ledger windows contract: ${name}`, { concurrency: true }, () => {
    it(
      'a calendar period counts usage from its start, resets at its end, and a refusal waits exactly for it',
      withLedger(async (ledger) => {
        const scope = scopeOf();
        await spend(ledger, [scope], { usd_micros: 100 });
        // the next whole second: a 1 s bucket holding the first spend lies wholly before it
        const since = Math.ceil((Date.now() + 1) / 1000) * 1000;
        while (Date.now() < since + 20) await sleep(20);
        await spend(ledger, [scope], { usd_micros: 7 });
        const until = since + 60_000;
        const period: LimitCheck = { id: 'p', scope, metric: 'usd_micros', windowMs: 1, limit: 110, period: { since, until } };
        const earlier: LimitCheck = { ...period, id: 'e', period: { since: since - 10_000, until } };
        const [inPeriod, wider] = await ledger.standing([period, earlier]);
        assert.equal(inPeriod.used, 7, 'usage before the period does not count');
        assert.equal(wider.used, 107);
        const now = Date.now();
        assert.ok(inPeriod.resetMs !== null && Math.abs(inPeriod.resetMs - (until - now)) < 1000, `reset at the period's end (${inPeriod.resetMs})`);
        const refused = await ledger.reserve({ id: randomUUID(), scopes: [scope], amounts: { usd_micros: 5 }, checks: [earlier], leaseMs: 30_000 });
        assert.equal(refused.admitted, false);
        if (refused.admitted) return;
        assert.ok(
          refused.retryAfterMs !== null && Math.abs(refused.retryAfterMs - (until - Date.now())) < 1000,
          `retry when the period ends (${refused.retryAfterMs})`,
        );
      }),
    );

    it(
      'a lifetime check counts usage past the retention, which a rolling window does not',
      withLedger(async (ledger) => {
        const scope = scopeOf();
        await spend(ledger, [scope], { usd_micros: 5, requests: 1 });
        await ledger.record({ scopes: [scope], amounts: { usd_micros: 3, requests: 1 }, at: Date.now() - 40 * DAY });
        const lifetime: LimitCheck = { id: 'l', scope, metric: 'usd_micros', windowMs: 1, limit: 9, lifetime: true };
        const rolling: LimitCheck = { id: 'r', scope, metric: 'usd_micros', windowMs: 35 * DAY, limit: 9 };
        const [life, window] = await ledger.standing([lifetime, rolling]);
        assert.deepEqual([life.used, life.resetMs, window.used], [8, null, 5]);
        const refused = await ledger.reserve({ id: randomUUID(), scopes: [scope], amounts: { usd_micros: 2 }, checks: [lifetime], leaseMs: 30_000 });
        assert.equal(refused.admitted, false);
        if (!refused.admitted) assert.equal(refused.retryAfterMs, null, 'a lifetime never resets');
      }),
    );

    it(
      'a session scope counts its own usage until it has been idle for its idle time, then starts from zero',
      withLedger(async (ledger) => {
        const agent = scopeOf().slice('agent:'.length);
        const one = `session:1500:${agent}:run-1`;
        const two = `session:1500:${agent}:run-2`;
        const limit = (scope: string): LimitCheck => ({ id: scope, scope, metric: 'usd_micros', windowMs: 1, limit: 10, lifetime: true });
        await spend(ledger, [`agent:${agent}`, one], { usd_micros: 6 });
        await spend(ledger, [`agent:${agent}`, two], { usd_micros: 1 });
        const refused = await ledger.reserve({
          id: randomUUID(),
          scopes: [`agent:${agent}`, one],
          amounts: { usd_micros: 5 },
          checks: [limit(one)],
          leaseMs: 30_000,
        });
        assert.equal(refused.admitted, false, 'the session holds 6 of 10');
        const [first, second] = await ledger.standing([limit(one), limit(two)]);
        assert.deepEqual([first.used, second.used], [6, 1], 'two sessions are independent');
        await sleep(1700);
        const [expired] = await ledger.standing([limit(one)]);
        assert.equal(expired.used, 0, 'idle past its idle time: the session starts from zero');
        assert.equal(
          (await ledger.reserve({ id: randomUUID(), scopes: [one], amounts: { usd_micros: 5 }, checks: [limit(one)], leaseMs: 30_000 })).admitted,
          true,
        );
      }),
    );
  });
}
