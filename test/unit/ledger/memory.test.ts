// MemoryLedger with an injected clock: exact Retry-After, holds, leases, retention, ordering and the journal hook.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import type { LimitCheck, ReserveInput } from '../../../src/ledger/ledger.ts';
import type { JournalSink } from '../../../src/ledger/journal/journal.ts';
import { fromRow } from '../../../src/ledger/amounts.ts';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

function clock(start = 1_000): { now: () => number; set: (t: number) => void; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    set: (value) => {
      t = value;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

/** Exact to the millisecond (grainMs 0) unless a test says otherwise: these tests pin the window arithmetic itself. */
function ledgerAt(time: ReturnType<typeof clock>, extra: { journal?: JournalSink; retentionMs?: number; grainMs?: number } = {}): MemoryLedger {
  return new MemoryLedger({ now: time.now, sweepIntervalMs: 0, grainMs: 0, ...extra });
}

const usd = (limit: number, windowMs = MINUTE, scope = 'agent:a'): LimitCheck => ({ id: `${scope}/usd`, scope, metric: 'usd_micros', windowMs, limit });

let next = 0;
function reserveInput(amounts: ReserveInput['amounts'], checks: LimitCheck[], extra: Partial<ReserveInput> = {}): ReserveInput {
  return { id: `r${++next}`, scopes: ['agent:a'], amounts, checks, leaseMs: 10 * MINUTE, ...extra };
}

async function spend(ledger: MemoryLedger, usdMicros: number, scopes = ['agent:a']): Promise<void> {
  const input = reserveInput({ usd_micros: usdMicros }, [], { scopes });
  const outcome = await ledger.reserve(input);
  assert.ok(outcome.admitted);
  assert.equal(await ledger.settle({ id: input.id, amounts: { usd_micros: usdMicros, requests: 1 } }), true);
}

describe('MemoryLedger', () => {
  it('computes Retry-After to the millisecond from the usage that must leave the window', async () => {
    const time = clock(1_000);
    const ledger = ledgerAt(time);
    await spend(ledger, 300);
    time.set(5_000);
    await spend(ledger, 300);
    time.set(9_000);
    await spend(ledger, 400);
    time.set(10_000);

    const small = await ledger.reserve(reserveInput({ usd_micros: 200 }, [usd(1000)]));
    assert.equal(small.admitted, false);
    assert.ok(!small.admitted);
    assert.equal(small.retryAfterMs, 1_000 + MINUTE - 10_000, 'only the 300 spent at t=1000 has to leave');
    assert.equal(small.blocked.used, 1000);

    const large = await ledger.reserve(reserveInput({ usd_micros: 500 }, [usd(1000)]));
    assert.ok(!large.admitted);
    assert.equal(large.retryAfterMs, 5_000 + MINUTE - 10_000, 'the first two must leave for 500 to fit');

    time.set(5_000 + MINUTE - 1);
    const early = await ledger.reserve(reserveInput({ usd_micros: 500 }, [usd(1000)]));
    assert.ok(!early.admitted);
    assert.equal(early.retryAfterMs, 1);
    time.advance(1);
    assert.equal((await ledger.reserve(reserveInput({ usd_micros: 500 }, [usd(1000)]))).admitted, true);
  });

  it('counts open holds in the retry time, and answers null when waiting cannot help', async () => {
    const time = clock();
    const ledger = ledgerAt(time);
    await spend(ledger, 600);
    time.advance(1000);
    const hold = await ledger.reserve(reserveInput({ usd_micros: 300 }, [usd(1000)]));
    assert.equal(hold.admitted, true);

    const fits = await ledger.reserve(reserveInput({ usd_micros: 200 }, [usd(1000)]));
    assert.ok(!fits.admitted);
    assert.equal(fits.retryAfterMs, MINUTE - 1000);
    assert.equal(fits.blocked.reserved, 300);

    const tooMuchWithHolds = await ledger.reserve(reserveInput({ usd_micros: 800 }, [usd(1000)]));
    assert.ok(!tooMuchWithHolds.admitted);
    assert.equal(tooMuchWithHolds.retryAfterMs, null);

    const aloneTooBig = await ledger.reserve(reserveInput({ usd_micros: 1001 }, [usd(1000)]));
    assert.ok(!aloneTooBig.admitted);
    assert.equal(aloneTooBig.retryAfterMs, null);
  });

  it('treats events at the same instant as leaving together', async () => {
    const time = clock(2_000);
    const ledger = ledgerAt(time);
    await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 100 }, at: 1_000 });
    await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 100 }, at: 1_000 });
    await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 100 }, at: 1_500 });
    const outcome = await ledger.reserve(reserveInput({ usd_micros: 150 }, [usd(300)]));
    assert.ok(!outcome.admitted);
    assert.equal(outcome.retryAfterMs, 1_000 + MINUTE - 2_000);
  });

  it('reports the first blocking check in input order and standings for all', async () => {
    const time = clock();
    const ledger = ledgerAt(time);
    await spend(ledger, 500);
    const checks: LimitCheck[] = [usd(10_000), { id: 'agent:a/requests', scope: 'agent:a', metric: 'requests', windowMs: MINUTE, limit: 1 }, usd(400)];
    const outcome = await ledger.reserve(reserveInput({ usd_micros: 1, requests: 1 }, checks));
    assert.ok(!outcome.admitted);
    assert.equal(outcome.blocked.id, 'agent:a/requests');
    assert.equal(outcome.standings.length, 3);
    assert.equal(outcome.standings[2].used, 500);
    assert.equal(ledger.openReservations, 0, 'a refused reservation holds nothing');
  });

  it('returns standings that include the admitted hold', async () => {
    const time = clock();
    const ledger = ledgerAt(time);
    await spend(ledger, 100);
    time.advance(10_000);
    const outcome = await ledger.reserve(
      reserveInput({ usd_micros: 250 }, [usd(1000), { id: 'c', scope: 'agent:a', metric: 'concurrency', windowMs: 0, limit: 4 }]),
    );
    assert.ok(outcome.admitted);
    assert.deepEqual(outcome.standings[0], {
      id: 'agent:a/usd',
      scope: 'agent:a',
      metric: 'usd_micros',
      windowMs: MINUTE,
      limit: 1000,
      used: 100,
      reserved: 250,
      remaining: 650,
      resetMs: MINUTE - 10_000,
    });
    assert.equal(outcome.standings[1].used, 1);
    assert.equal(outcome.standings[1].remaining, 3);
    const [later] = await ledger.standing([usd(1000)]);
    assert.equal(later.reserved, 250);
    const [empty] = await ledger.standing([usd(1000, MINUTE, 'agent:nobody')]);
    assert.deepEqual([empty.used, empty.reserved, empty.remaining, empty.resetMs], [0, 0, 1000, null]);
  });

  it('settles exactly once, replacing the estimate, on every listed scope', async () => {
    const time = clock();
    const ledger = ledgerAt(time);
    const input = reserveInput({ usd_micros: 900 }, [usd(1000)], { scopes: ['agent:a', 'shared:team', 'agent:a'] });
    assert.equal((await ledger.reserve(input)).admitted, true);
    assert.equal(await ledger.settle({ id: input.id, amounts: { usd_micros: 120 } }), true);
    assert.equal(await ledger.settle({ id: input.id, amounts: { usd_micros: 120 } }), false);
    assert.equal(await ledger.release(input.id), false);
    const [agent, team] = await ledger.standing([usd(1000), usd(1000, MINUTE, 'shared:team')]);
    assert.deepEqual([agent.used, agent.reserved, team.used, team.reserved], [120, 0, 120, 0], 'a scope listed twice counts once');
  });

  it('expires leases: the hold goes and the late settle is refused', async () => {
    const time = clock();
    const ledger = ledgerAt(time);
    const input = reserveInput({ usd_micros: 1000 }, [usd(1000)], { leaseMs: 5_000 });
    assert.equal((await ledger.reserve(input)).admitted, true);
    time.advance(4_999);
    assert.equal((await ledger.reserve(reserveInput({ usd_micros: 1 }, [usd(1000)]))).admitted, false);
    time.advance(1);
    assert.equal(ledger.openReservations, 1, 'swept lazily, at the next operation');
    const [standing] = await ledger.standing([usd(1000)]);
    assert.equal(standing.reserved, 0);
    assert.equal(ledger.openReservations, 0);
    assert.equal(await ledger.settle({ id: input.id, amounts: { usd_micros: 1000 } }), false);
    assert.equal((await ledger.standing([usd(1000)]))[0].used, 0);
  });

  it('limits concurrency by open reservations, with no retry time', async () => {
    const time = clock();
    const ledger = ledgerAt(time);
    const check: LimitCheck = { id: 'agent:a/concurrency', scope: 'agent:a', metric: 'concurrency', windowMs: 0, limit: 2 };
    const first = reserveInput({}, [check]);
    assert.equal((await ledger.reserve(first)).admitted, true);
    assert.equal((await ledger.reserve(reserveInput({}, [check]))).admitted, true);
    const third = await ledger.reserve(reserveInput({}, [check]));
    assert.ok(!third.admitted);
    assert.equal(third.retryAfterMs, null);
    assert.equal(third.blocked.used, 2);
    await ledger.release(first.id);
    assert.equal((await ledger.reserve(reserveInput({}, [check]))).admitted, true);
  });

  it('rejects a duplicated open id and invalid amounts without changing anything', async () => {
    const time = clock();
    const ledger = ledgerAt(time);
    const input = reserveInput({ usd_micros: 1 }, []);
    await ledger.reserve(input);
    await assert.rejects(ledger.reserve(input), /already open/);
    await assert.rejects(ledger.reserve(reserveInput({ usd_micros: -1 }, [])), TypeError);
    await assert.rejects(ledger.reserve(reserveInput({ usd_micros: 1.5 }, [])), TypeError);
    assert.equal(ledger.openReservations, 1);
    await ledger.settle({ id: input.id, amounts: { usd_micros: 1 } });
    await assert.rejects(ledger.reserve(input), /already ended/, 'an ended id is remembered: a late reserve of it holds nothing');
    assert.equal(ledger.openReservations, 0);
    time.set(time.now() + 60_000);
    assert.equal((await ledger.reserve(input)).admitted, true, 'an ended id may be reused once its tombstone is gone');
    assert.equal(ledger.tombstonesHeld, 0);
  });

  it('drops usage older than the retention, and ignores records already older', async () => {
    const time = clock(0);
    const ledger = ledgerAt(time, { retentionMs: 10 * DAY });
    const longWindow = usd(Number.MAX_SAFE_INTEGER, 100 * DAY);
    for (let day = 0; day < 20; day++) {
      time.set(day * DAY);
      await spend(ledger, 1);
    }
    time.set(20 * DAY);
    assert.equal((await ledger.standing([longWindow]))[0].used, 9, 'days 11..19 are within 10 days of day 20');
    await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 1000 }, at: 5 * DAY });
    assert.equal((await ledger.standing([longWindow]))[0].used, 9);
  });

  it('accepts records out of time order (replays, rebuilds)', async () => {
    const time = clock(10_000);
    const ledger = ledgerAt(time);
    await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 1 }, at: 9_000 });
    await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 10 }, at: 3_000 });
    await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 100 }, at: 6_000 });
    const [standing] = await ledger.standing([usd(1_000_000, 5_000)]);
    assert.equal(standing.used, 101);
    assert.equal(standing.resetMs, 6_000 + 5_000 - 10_000);
  });

  it('answers exactly with 1,000,000 events in one scope', async () => {
    const time = clock(0);
    const ledger = ledgerAt(time);
    for (let i = 0; i < 1_000_000; i++) await ledger.record({ scopes: ['agent:big'], amounts: { usd_micros: 1, requests: 1 }, at: i });
    time.set(1_000_000);
    const check = usd(1_000_000, 1_000_000, 'agent:big');
    const [standing] = await ledger.standing([check]);
    assert.equal(standing.used, 999_999, 'the event at t=0 sits exactly on the window start');
    const outcome = await ledger.reserve({ id: 'big', scopes: ['agent:big'], amounts: { usd_micros: 11 }, checks: [check], leaseMs: 1000 });
    assert.ok(!outcome.admitted);
    assert.equal(outcome.retryAfterMs, 10, 'events 1..10 have to leave');
  });

  it('by default holds the usage of one second as one event, counted until its latest part leaves the window', async () => {
    const time = clock(0);
    const ledger = new MemoryLedger({ now: time.now, sweepIntervalMs: 0 });
    for (let i = 0; i < 10_000; i++) await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 1, requests: 1 }, at: 5_000 + (i % 1_000) });
    await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 7, input_tokens: 3 }, at: 6_000 });
    time.set(6_500);
    const [all] = await ledger.standing([usd(1_000_000)]);
    assert.equal(all.used, 10_007, 'nothing is lost in the folding');
    assert.equal(ledger.eventsHeld('agent:a'), 2, '10,001 calls in two seconds: two events');
    // a 1,500 ms window starts at 5,000: exact would drop the events at 5,000 ms only; the folded second (latest part
    // at 5,999) is counted whole until the window starts at 5,999 (t = 7,499), never dropped early
    const [window] = await ledger.standing([usd(1_000_000, 1_500)]);
    assert.equal(window.used, 10_007);
    time.set(7_499);
    const [later] = await ledger.standing([usd(1_000_000, 1_500)]);
    assert.equal(later.used, 7, 'the folded second leaves once its latest part does');
    await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 5 }, at: 5_500 }); // late (a replay): merged in order
    const [merged] = await ledger.standing([usd(1_000_000, 3_000)]);
    assert.equal(merged.used, 10_012);
    assert.equal(ledger.eventsHeld('agent:a'), 2, 'the late event folds into its second too');
  });

  it('folds aged usage into coarser buckets on its sweep, as the Redis ledger holds it', async () => {
    const time = clock(0);
    const ledger = new MemoryLedger({ now: time.now, sweepIntervalMs: 0 });
    for (let at = 10_000; at <= 3 * DAY; at += 10_000) await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 1 }, at });
    time.set(3 * DAY);
    const exact = [await ledger.standing([usd(1e9, 60 * MINUTE), usd(1e9, DAY), usd(1e9, 4 * DAY)])].flat().map((standing) => standing.used);
    assert.equal(ledger.eventsHeld('agent:a'), 25_920);
    ledger.sweep();
    assert.ok(ledger.eventsHeld('agent:a') < 2_400, `three days of a call every 10 s held as ${ledger.eventsHeld('agent:a')} events`);
    const folded = (await ledger.standing([usd(1e9, 60 * MINUTE), usd(1e9, DAY), usd(1e9, 4 * DAY)])).map((standing) => standing.used);
    assert.deepEqual(exact, [360, 8_640, 25_920]);
    assert.ok(folded[0] >= 360 && folded[0] <= 362, 'an hour counts at most one 15 s bucket more');
    assert.ok(folded[1] >= 8_640 && folded[1] <= 8_670, 'a day counts at most one 5 min bucket more');
    assert.equal(folded[2], 25_920, 'nothing is lost');
  });

  it('journals settlements and records, not reservations or releases', async () => {
    const time = clock(7);
    const written: { at: number; scopes: readonly string[]; amounts: object }[] = [];
    const journal: JournalSink = {
      append: (entry) => {
        written.push({ at: entry.at, scopes: entry.scopes, amounts: fromRow(entry.row) });
      },
      flush: async () => undefined,
      close: async () => undefined,
      lastError: null,
    };
    const ledger = ledgerAt(time, { journal });
    const kept = reserveInput({ usd_micros: 5 }, [], { scopes: ['agent:a', 'shared:t'] });
    const dropped = reserveInput({ usd_micros: 5 }, []);
    await ledger.reserve(kept);
    await ledger.reserve(dropped);
    await ledger.release(dropped.id);
    await ledger.settle({ id: kept.id, amounts: { usd_micros: 4, requests: 1 } });
    await ledger.record({ scopes: ['agent:b'], amounts: { requests: 1 }, at: 3 });
    assert.deepEqual(written, [
      { at: 7, scopes: ['agent:a', 'shared:t'], amounts: { usd_micros: 4, requests: 1 } },
      { at: 3, scopes: ['agent:b'], amounts: { requests: 1 } },
    ]);
  });

  it('reports an unhealthy journal and refuses work once closed', async () => {
    const failing: JournalSink = { append: () => undefined, flush: async () => undefined, close: async () => undefined, lastError: new Error('disk full') };
    const ledger = ledgerAt(clock(), { journal: failing });
    assert.deepEqual(await ledger.health(), { ok: false, kind: 'memory', detail: 'journal write failing: disk full' });
    await ledger.close();
    await assert.rejects(ledger.standing([]), /closed/);
  });
});
