// The settlement backlog: what could not reach the ledger, or got no reply from it, is applied exactly once when it
// answers again, in order; a retry of an operation that did run counts nothing (the ledger remembers the id).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LedgerOutcomeUnknownError, LedgerUnreachableError, type Ledger, type LimitCheck } from '../../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { SettleBacklog } from '../../../src/budget/settle-backlog.ts';

const HOUR = 3_600_000;
const usd: LimitCheck = { id: 'usd', scope: 'agent:a', metric: 'usd_micros', windowMs: HOUR, limit: 1_000_000 };

/** A real embedded ledger behind a switch: while `down`, every call fails as an unreachable shared ledger does. */
function switchable(ledger: MemoryLedger): { ledger: Ledger; state: { down: boolean; timeouts: number } } {
  const state = { down: false, timeouts: 0 };
  const gate = <T>(call: () => Promise<T>): Promise<T> => {
    if (state.down) return Promise.reject(new LedgerUnreachableError('redis ledger unavailable: down'));
    if (state.timeouts > 0) {
      state.timeouts -= 1;
      return call().then(() => Promise.reject(new LedgerOutcomeUnknownError('Command timed out'))); // ran, but the reply was lost
    }
    return call();
  };
  return {
    state,
    ledger: {
      reserve: (input) => gate(() => ledger.reserve(input)),
      settle: (input) => gate(() => ledger.settle(input)),
      release: (id) => gate(() => ledger.release(id)),
      record: (input) => gate(() => ledger.record(input)),
      standing: (checks) => gate(() => ledger.standing(checks)),
      claimOnce: (input) => gate(() => ledger.claimOnce(input)),
      health: () => ledger.health(),
      close: () => ledger.close(),
    },
  };
}

/** A backlog over a switchable embedded ledger, collecting its reports. */
function setup(options: { retryMs: number; maxEntries?: number }) {
  const memory = new MemoryLedger({ sweepIntervalMs: 0 });
  const { ledger, state } = switchable(memory);
  const reports: string[] = [];
  const backlog = new SettleBacklog({ ledger, report: (message) => reports.push(message), ...options });
  return { memory, state, reports, backlog };
}

async function used(ledger: MemoryLedger): Promise<number> {
  return (await ledger.standing([usd]))[0].used;
}

describe('settlement backlog', () => {
  it('settles a reservation still open, records one that is gone at its own time, each once, in order', async () => {
    const { memory, state, reports, backlog } = setup({ retryMs: 10_000 });
    await memory.reserve({ id: 'open', scopes: ['agent:a'], amounts: { usd_micros: 900 }, checks: [usd], leaseMs: HOUR });
    state.down = true;
    backlog.add({ kind: 'settle', reservationId: 'open', scopes: ['agent:a'], amounts: { usd_micros: 300 }, at: Date.now() });
    backlog.add({ kind: 'settle', reservationId: 'expired-meanwhile', scopes: ['agent:a'], amounts: { usd_micros: 40 }, at: Date.now() - 1000 });
    backlog.add({ kind: 'settle', reservationId: 'passed-unchecked', scopes: ['agent:a', 'shared:team'], amounts: { usd_micros: 5 }, at: Date.now() });
    await backlog.drain();
    assert.equal(backlog.size, 3, 'kept while the ledger is unreachable');
    assert.equal(await used(memory), 0);
    state.down = false;
    await backlog.drain();
    await backlog.drain();
    assert.equal(backlog.size, 0);
    assert.equal(await used(memory), 345, 'each applied once: 300 settled, 40 and 5 recorded');
    assert.equal((await memory.standing([usd]))[0].reserved, 0, 'the open reservation was settled, not left held');
    assert.equal((await memory.standing([{ ...usd, id: 'team', scope: 'shared:team' }]))[0].used, 5);
    assert.deepEqual(reports, ['shared ledger unreachable: keeping settlements to apply when it is back', 'shared ledger back: 3 kept settlements applied']);
    await backlog.close();
    await memory.close();
  });

  it('releases a hold that could not be released, when the ledger is back, instead of at the end of its lease', async () => {
    const { memory, state, backlog } = setup({ retryMs: 10_000 });
    await memory.reserve({ id: 'failed-call', scopes: ['agent:a'], amounts: { usd_micros: 900 }, checks: [usd], leaseMs: HOUR });
    state.down = true;
    backlog.add({ kind: 'release', reservationId: 'failed-call' });
    backlog.add({ kind: 'release', reservationId: 'already-gone' });
    await backlog.drain();
    assert.equal((await memory.standing([usd]))[0].reserved, 900, 'held while the ledger is unreachable');
    state.down = false;
    await backlog.drain();
    assert.equal(backlog.size, 0);
    assert.deepEqual([(await memory.standing([usd]))[0].reserved, await used(memory)], [0, 0], 'the room is back, nothing charged');
    await backlog.close();
    await memory.close();
  });

  it('retries a settlement whose reply was lost (it may have run) and counts it once: the ledger remembers the id', async () => {
    const { memory, state, reports, backlog } = setup({ retryMs: 10_000 });
    await memory.reserve({ id: 'held', scopes: ['agent:a'], amounts: { usd_micros: 900 }, checks: [usd], leaseMs: HOUR });
    backlog.add({ kind: 'settle', reservationId: 'held', scopes: ['agent:a'], amounts: { usd_micros: 70 }, at: Date.now() });
    backlog.add({ kind: 'settle', reservationId: 'unchecked', scopes: ['agent:a'], amounts: { usd_micros: 5 }, at: Date.now() });
    state.timeouts = 2;
    await backlog.drain();
    assert.equal(backlog.size, 2, 'kept: the outcome is unknown');
    await backlog.drain();
    await backlog.drain();
    assert.equal(backlog.size, 0);
    assert.equal(await used(memory), 75, 'each ran once; the retries counted nothing again');
    assert.equal((await memory.standing([usd]))[0].reserved, 0);
    assert.deepEqual(reports, ['shared ledger unreachable: keeping settlements to apply when it is back', 'shared ledger back: 2 kept settlements applied']);
    await backlog.close();
    await memory.close();
  });

  it('releases by id a reserve whose reply was lost: run before the release, it is freed; run after it, it holds nothing', async () => {
    const { memory, backlog } = setup({ retryMs: 10_000 });
    // ran, reply lost: the replica gave up on it and releases it by id
    const ran = { id: 'ran', scopes: ['agent:a'], amounts: { usd_micros: 900 }, checks: [usd], leaseMs: HOUR };
    assert.equal((await memory.reserve(ran)).admitted, true);
    backlog.add({ kind: 'release', reservationId: 'ran' });
    // not run yet: the release is recorded first, the reserve arrives late
    backlog.add({ kind: 'release', reservationId: 'late' });
    await backlog.drain();
    await assert.rejects(memory.reserve({ ...ran, id: 'late' }), /already ended/);
    assert.equal(backlog.size, 0);
    assert.deepEqual([(await memory.standing([usd]))[0].reserved, await used(memory)], [0, 0], 'nothing held, nothing charged');
    await backlog.close();
    await memory.close();
  });

  it('retries by itself, bounds what it keeps, and reports what never landed at close', async () => {
    const { memory, state, reports, backlog } = setup({ retryMs: 10, maxEntries: 2 });
    state.down = true;
    for (const amount of [1, 2, 4])
      backlog.add({ kind: 'settle', reservationId: `r${amount}`, scopes: ['agent:a'], amounts: { usd_micros: amount }, at: Date.now() });
    assert.equal(backlog.size, 2);
    assert.match(reports[1], /backlog full \(2\): dropped the oldest/);
    state.down = false;
    for (let i = 0; i < 200 && backlog.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(await used(memory), 6, 'the timer applied the two it kept');
    state.down = true;
    backlog.add({ kind: 'settle', reservationId: 'r8', scopes: ['agent:a'], amounts: { usd_micros: 8 }, at: Date.now() });
    await backlog.close();
    assert.match(reports.at(-1)!, /1 settlement never reached the shared ledger/);
    await memory.close();
  });
});
