// EventLog's compact form (32-bit running sums widened past 2^32, logs carved from a replay's arena, sized once) against a brute-force model.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventLog } from '../../../src/ledger/event-log.ts';
import { LogArena } from '../../../src/ledger/log-arena.ts';
import { METRIC_COUNT } from '../../../src/ledger/amounts.ts';
import { seededRandom } from '../../helpers/random.ts';

/** A row with the given columns' amounts, the others 0. */
function row(values: Readonly<Record<number, number>>): Float64Array {
  const amounts = new Float64Array(METRIC_COUNT);
  for (const [column, value] of Object.entries(values)) amounts[Number(column)] = value;
  return amounts;
}

interface ModelEvent {
  readonly at: number;
  readonly values: Float64Array;
}

/** What the log must answer for `events` (its model), every metric, a few windows and allowances. */
function assertAgrees(log: EventLog, events: readonly ModelEvent[], random: () => number, label: string): void {
  const sorted = [...events].sort((a, b) => a.at - b.at);
  const times = sorted.map((event) => event.at);
  const sinces = [-1, ...Array.from({ length: 4 }, () => times[Math.floor(random() * times.length)] ?? 0)];
  for (const since of sinces) {
    const inWindow = sorted.filter((event) => event.at > since);
    for (let column = 0; column < METRIC_COUNT; column++) {
      const total = inWindow.reduce((sum, event) => sum + event.values[column], 0);
      assert.equal(log.sumAfter(column, since), total, `${label}: sum of ${column} after ${since}`);
      const oldest = inWindow.find((event) => event.values[column] > 0)?.at ?? null;
      assert.equal(log.oldestAfter(column, since), oldest, `${label}: oldest of ${column} after ${since}`);
      const allowance = Math.floor(random() * total);
      let remaining = total;
      let last: number | null = null;
      if (remaining > allowance) {
        for (const event of inWindow) {
          remaining -= event.values[column];
          if (remaining <= allowance) {
            last = event.at;
            break;
          }
        }
      }
      assert.equal(log.lastToLeave(column, since, allowance), last, `${label}: last to leave of ${column} after ${since}`);
    }
  }
}

/** An amount of one of the sizes a scope sees: none, small, near 2^31, or far past 2^32 (sums overflow 32 bits). */
function amount(random: () => number): number {
  const kind = random();
  if (kind < 0.3) return 0;
  if (kind < 0.85) return Math.floor(random() * 1000);
  if (kind < 0.97) return 2 ** 31 + Math.floor(random() * 2 ** 30);
  return 2 ** 40 + Math.floor(random() * 1000);
}

describe('EventLog, compact', () => {
  it('holds an event in 28 bytes with five metrics in use (8 for its time, 4 for each running sum)', () => {
    const log = new EventLog();
    for (let at = 0; at < 1000; at++) log.append(at, row({ 0: 750, 1: 1, 2: 100, 3: 50, 4: 150 }));
    assert.equal(log.bytes, 28 * log.capacity);
    assert.equal(log.sumAfter(0, -1), 750_000);
  });

  it('widens a metric whose running sum passes 2^32, exactly, and narrows it again once those events have left', () => {
    const big = 2 ** 31 + 7;
    const log = new EventLog({ grainMs: 10 });
    log.append(1, row({ 0: big, 1: 1 }));
    log.append(5, row({ 0: big, 1: 1 })); // the same grain: added to the last event (2^32 + 14)
    log.append(20, row({ 0: big, 1: 1 }));
    assert.equal(log.sumAfter(0, -1), 3 * big);
    assert.equal(log.sumAfter(0, 5), big);
    assert.equal(log.lastToLeave(0, -1, big), 5);
    assert.equal(log.bytes, (8 + 8 + 4) * log.capacity, 'metric 0 in 64 bits, metric 1 still 32');
    log.dropThrough(20); // every big amount left: the next block takes metric 0 in 32 bits again
    for (let at = 30; at < 1000; at += 10) log.append(at, row({ 0: 3, 1: 1 })); // 97 grains: the log grows
    assert.ok(log.capacity >= 97);
    assert.equal(log.bytes, (8 + 4 + 4) * log.capacity);
    assert.equal(log.sumAfter(0, -1), 3 * 97);
    assert.equal(log.sumAfter(1, 500), 49);
  });

  it('agrees with a brute-force model over random shapes: sums past 32 bits, late events, retention drops, logs sized ahead in an arena', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = seededRandom(seed);
      const arena = new LogArena();
      // several logs carved from one arena, as a replay's scopes are, each with its own model
      const logs = Array.from({ length: 3 }, () => ({ log: new EventLog(), events: [] as ModelEvent[] }));
      const columns = Array.from({ length: 3 }, () => Math.floor(random() * (1 << METRIC_COUNT)));
      const retention = 500 + Math.floor(random() * 5000);
      let clock = 0;
      for (let step = 0; step < 1500; step++) {
        const which = Math.floor(random() * logs.length);
        const { log, events } = logs[which];
        clock += Math.floor(random() * 20);
        const at = random() < 0.05 ? clock - Math.floor(random() * 300) : clock;
        const values = new Float64Array(METRIC_COUNT);
        for (let column = 0; column < METRIC_COUNT; column++) if ((columns[which] & (1 << column)) !== 0) values[column] = amount(random);
        if (random() < 0.05) log.reserve(1 + Math.floor(random() * 30), 0.05 + random(), columns[which], arena);
        log.append(at, values);
        events.push({ at, values });
        if (random() < 0.02) {
          // the retention: everything at or before the cutoff leaves (late events once merged, as the ledger queries first)
          const cutoff = clock - retention;
          log.sumAfter(0, 0);
          log.dropThrough(cutoff);
          logs[which].events = events.filter((event) => event.at > cutoff);
        }
        if (random() < 0.01) assertAgrees(log, logs[which].events, random, `seed ${seed} step ${step}`);
      }
      for (const { log, events } of logs) {
        assertAgrees(log, events, random, `seed ${seed} end`);
        const expected = [...events].sort((a, b) => a.at - b.at).map((event) => [event.at, ...event.values]);
        assert.deepEqual(
          [...log.events()].map((event) => [event.at, ...event.row]),
          expected,
        );
        assert.deepEqual(
          [...log.clone().events()].map((event) => [event.at, ...event.row]),
          expected,
        );
      }
    }
  });

  it('is sized once when the journal brings a scope at a steady pace (start-up replay)', () => {
    // a fleet scope: 13 records in each of 15 stages, the journal read 1/15 further at each
    const arena = new LogArena();
    const log = new EventLog();
    const capacities = new Set<number>();
    let at = 0;
    for (let stage = 1; stage <= 15; stage++) {
      log.reserve(13, stage / 15, 0b11111, arena);
      for (let i = 0; i < 13; i++) {
        at += 15_000;
        log.append(at, row({ 0: 750, 1: 1, 2: 100, 3: 50, 4: 150 }));
      }
      capacities.add(log.capacity);
    }
    assert.deepEqual([...capacities], [Math.ceil((13 / (1 / 15)) * 1.1)], 'one size from the first stage on');
    assert.equal(log.sumAfter(0, -1), 750 * 195);
  });
});
