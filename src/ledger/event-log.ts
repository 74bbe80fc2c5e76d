// Settled usage of one scope in time order: typed-array columns with running sums, so a rolling-window sum is one binary search.
import { METRIC_COUNT, type AmountRow } from './amounts.ts';
import type { CoarseningStep } from './bucket-levels.ts';

const INITIAL_CAPACITY = 8;

/**
 * Events live in `times[head, length)`, sorted by time. For each metric column that has ever been non-zero,
 * `sums[c][i]` is the running total of that metric over events `0..i` (inclusive) since the last rebase, so the
 * sum over any suffix `[i, length)` is `last - before(i)`. Appends and drops are amortised O(1); queries O(log n).
 * Events that arrive out of order (a replay, a rebuild, a clock step back) wait in `pending` and are merged in
 * before the next query, costing O(p log p + tail) once rather than a shift per event.
 */
export class EventLog {
  /** Events in the same grain (`floor(at / grainMs)`) are held as one, at the latest one's time; 0 keeps each event. */
  private readonly grainMs: number;
  private times = new Float64Array(INITIAL_CAPACITY);
  /** Null until the metric is first non-zero in this scope (most scopes never see some metrics). */
  private readonly sums: (Float64Array | null)[] = new Array(METRIC_COUNT).fill(null);
  private head = 0;
  private length = 0;
  private pending: { at: number; row: AmountRow }[] = [];

  constructor(options: { readonly grainMs?: number } = {}) {
    this.grainMs = options.grainMs ?? 0;
  }

  /** Number of events held, same-grain events counting once (including ones not yet merged). */
  get size(): number {
    return this.length - this.head + this.pending.length;
  }

  /** Adds one event. Amounts are copied. */
  append(at: number, row: AmountRow): void {
    if (this.pending.length > 0 || (this.length > this.head && at < this.times[this.length - 1])) {
      this.pending.push({ at, row: Float64Array.from(row) });
      return;
    }
    this.push(at, row);
  }

  /**
   * Drops every event at or before `cutoff`. Cheap (one comparison) when there is nothing to drop. Late events not
   * merged yet are left alone (merging here would cost a merge per append); the next call after a merge drops them.
   */
  dropThrough(cutoff: number): void {
    if (this.length === this.head || this.times[this.head] > cutoff) return;
    this.head = this.firstAfter(cutoff);
    if (this.head === this.length) {
      this.head = 0;
      this.length = 0;
    }
  }

  /** Sum of one metric column over events with time > `since`. */
  sumAfter(column: number, since: number): number {
    this.mergePending();
    const sums = this.sums[column];
    if (!sums || this.length === this.head) return 0;
    return sums[this.length - 1] - this.before(sums, this.firstAfter(since));
  }

  /**
   * Time of the oldest event with time > `since` that used this metric column (an event that used only other metrics
   * does not make this one's headroom return), or null when there is none. Amounts are never negative, so the running
   * sums only grow: one binary search for the first index whose sum passes the sum before the window.
   */
  oldestAfter(column: number, since: number): number | null {
    this.mergePending();
    const sums = this.sums[column];
    if (!sums) return null;
    let low = this.firstAfter(since);
    if (low >= this.length) return null;
    const base = this.before(sums, low);
    if (sums[this.length - 1] <= base) return null;
    let high = this.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (sums[mid] > base) high = mid;
      else low = mid + 1;
    }
    return this.times[low];
  }

  /**
   * Among events with time > `since`, the time of the newest event that must leave so that the events after it sum
   * to at most `allowance` (>= 0) in this column. Null when they already fit.
   */
  lastToLeave(column: number, since: number, allowance: number): number | null {
    this.mergePending();
    const sums = this.sums[column];
    if (!sums) return null;
    const last = sums[this.length - 1];
    let low = this.firstAfter(since);
    if (low >= this.length || last - this.before(sums, low) <= allowance) return null;
    // Smallest j in (low, length] with suffix(j) <= allowance; suffix is non-increasing and suffix(length) = 0.
    let high = this.length;
    low += 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (last - sums[mid - 1] <= allowance) high = mid;
      else low = mid + 1;
    }
    return this.times[low - 1];
  }

  /**
   * Folds aged events into coarser buckets (`steps` coarsest first, see bucket-levels.ts): an event whose bucket of a
   * step's size ended more than that step's `afterMs` ago joins the other events of that bucket, at the latest one's
   * time, so it leaves a window at most one bucket late, never early. A folded event keeps the running sums of its last
   * member: every sum stays exact, only times move later. O(events), for a periodic sweep.
   */
  coarsen(now: number, steps: readonly CoarseningStep[]): void {
    this.mergePending();
    if (steps.length === 0 || this.length - this.head < 2) return;
    let write = this.head - 1;
    let groupSize = 0;
    let groupKey = 0;
    let read = this.head;
    for (; read < this.length; read++) {
      const at = this.times[read];
      const size = coarserBucket(at, now, steps);
      if (size === 0 && write === read - 1) break; // too young to fold, like everything after it, and nothing to slide
      const key = size === 0 ? 0 : Math.floor(at / size);
      if (size === 0 || size !== groupSize || key !== groupKey || write < this.head) {
        write += 1;
        groupSize = size;
        groupKey = key;
      }
      if (write !== read) this.moveEvent(read, write);
    }
    if (read === this.length) this.length = write + 1; // a break above means nothing had moved
  }

  /** A copy of the live events (nothing shared), for reading them while this log keeps changing. */
  clone(): EventLog {
    this.mergePending();
    const copy = new EventLog({ grainMs: this.grainMs });
    const live = this.length - this.head;
    copy.times = this.times.slice(this.head, this.length);
    for (let column = 0; column < METRIC_COUNT; column++) {
      const sums = this.sums[column];
      if (!sums) continue;
      const base = this.head === 0 ? 0 : sums[this.head - 1];
      const own = sums.slice(this.head, this.length);
      if (base !== 0) for (let i = 0; i < live; i++) own[i] -= base;
      copy.sums[column] = own;
    }
    copy.length = live;
    return copy;
  }

  /** The held events in time order, each with its own row (same-grain and folded settlements as one). */
  *events(): Generator<{ readonly at: number; readonly row: AmountRow }> {
    this.mergePending();
    for (let index = this.head; index < this.length; index++) yield { at: this.times[index], row: this.rowAt(index) };
  }

  /** Moves one event to an earlier index, over what was there (its running sums are cumulative, so they move as they are). */
  private moveEvent(from: number, to: number): void {
    this.times[to] = this.times[from];
    for (let column = 0; column < METRIC_COUNT; column++) {
      const sums = this.sums[column];
      if (sums) sums[to] = sums[from];
    }
  }

  private before(sums: Float64Array, index: number): number {
    return index === 0 ? 0 : sums[index - 1];
  }

  /** First index in [head, length) whose time is > `since` (length when none). */
  private firstAfter(since: number): number {
    let low = this.head;
    let high = this.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.times[mid] > since) high = mid;
      else low = mid + 1;
    }
    return low;
  }

  /** Appends in time order: `at` is never before the last event's time. */
  private push(at: number, row: AmountRow): void {
    const last = this.length - 1;
    if (this.grainMs > 0 && last >= this.head && Math.floor(at / this.grainMs) === Math.floor(this.times[last] / this.grainMs)) {
      this.addToLast(last, at, row);
      return;
    }
    if (this.length === this.times.length) this.makeRoom();
    const index = this.length;
    this.times[index] = at;
    for (let column = 0; column < METRIC_COUNT; column++) {
      let sums = this.sums[column];
      const value = row[column];
      if (!sums) {
        if (value === 0) continue;
        sums = this.sums[column] = new Float64Array(this.times.length); // zeros: the metric was 0 so far
      }
      sums[index] = (index === 0 ? 0 : sums[index - 1]) + value;
    }
    this.length = index + 1;
  }

  /**
   * Folds an event into the last one of its grain, which moves to the later time: its whole amount then stays in a
   * window until the latest of its events leaves, at most one grain longer than exact (never shorter, so never less
   * is counted). The running sums stay right: only the last one changes.
   */
  private addToLast(last: number, at: number, row: AmountRow): void {
    this.times[last] = at;
    for (let column = 0; column < METRIC_COUNT; column++) {
      const value = row[column];
      if (value === 0) continue;
      let sums = this.sums[column];
      if (!sums) sums = this.sums[column] = new Float64Array(this.times.length); // zeros: the metric was 0 so far
      sums[last] += value;
    }
  }

  /**
   * Room for `more` appends (start-up replay, before a scope's run of records), `share` (0 to 1) of the journal read:
   * when the log must grow, it grows to what the journal's rest will likely bring at the same pace (a tenth more), at
   * most 8 times what it then holds and at least half again its capacity, instead of doubling once per power of two.
   * `columns` (bit c: metric column c) are the metrics the run uses: their running sums are made in the same block.
   */
  reserve(more: number, share: number, columns = 0): void {
    if (this.length + more <= this.times.length) return;
    const needed = this.length - this.head + more;
    const expected = Math.ceil((needed / Math.max(share, 1 / 1024)) * 1.1);
    this.relocate(Math.max(needed, Math.min(expected, 8 * needed), Math.ceil(this.times.length * 1.5)), columns);
  }

  /** Full array: slide the live events to the front if at least half is dead, otherwise double the capacity. */
  private makeRoom(): void {
    this.relocate(this.head >= this.times.length / 2 ? this.times.length : this.times.length * 2, 0);
  }

  /**
   * Moves the live events to the front of arrays of `capacity` (at least the live events): in place when it is the
   * present one, else into one block holding the times and every metric's sums that is in use or in `columns` (one
   * allocation where one per array cost a malloc and its page faults each: thousands of scopes grow at start-up).
   */
  private relocate(capacity: number, columns: number): void {
    const live = this.length - this.head;
    const slide = capacity === this.times.length;
    let block: ArrayBuffer | null = null;
    if (!slide) {
      let arrays = 1;
      for (let column = 0; column < METRIC_COUNT; column++) if (this.sums[column] || (columns & (1 << column)) !== 0) arrays += 1;
      // not zeroed (calloc's memset was a tenth of a start-up replay's loading): every array is written up to `live`
      // below, and nothing is read at or past `length`
      block = Buffer.allocUnsafeSlow(arrays * capacity * Float64Array.BYTES_PER_ELEMENT).buffer;
    }
    let offset = 0;
    const times = block ? new Float64Array(block, offset, capacity) : this.times;
    offset += capacity * Float64Array.BYTES_PER_ELEMENT;
    if (slide) times.copyWithin(0, this.head, this.length);
    else times.set(this.times.subarray(this.head, this.length));
    for (let column = 0; column < METRIC_COUNT; column++) {
      const old = this.sums[column];
      if (!old) {
        if (block && (columns & (1 << column)) !== 0) {
          this.sums[column] = new Float64Array(block, offset, capacity).fill(0, 0, live); // the metric was 0 so far
          offset += capacity * Float64Array.BYTES_PER_ELEMENT;
        }
        continue;
      }
      const base = this.head === 0 ? 0 : old[this.head - 1];
      const sums = block ? new Float64Array(block, offset, capacity) : old;
      offset += capacity * Float64Array.BYTES_PER_ELEMENT;
      if (base === 0 && block) sums.set(old.subarray(this.head, this.length));
      else for (let i = 0; i < live; i++) sums[i] = old[this.head + i] - base; // reads run ahead of writes in place
      this.sums[column] = sums;
    }
    this.times = times;
    this.head = 0;
    this.length = live;
  }

  /** Sorts the late events and merges them with the part of the log they interleave with. */
  private mergePending(): void {
    if (this.pending.length === 0) return;
    const late = this.pending;
    this.pending = [];
    late.sort((a, b) => a.at - b.at);
    const start = this.firstAfter(late[0].at);
    const tail: { at: number; row: AmountRow }[] = [];
    for (let index = start; index < this.length; index++) tail.push({ at: this.times[index], row: this.rowAt(index) });
    this.length = start;
    if (this.length === this.head) {
      this.head = 0;
      this.length = 0;
    }
    let i = 0;
    let j = 0;
    while (i < tail.length || j < late.length) {
      const takeTail = j >= late.length || (i < tail.length && tail[i].at <= late[j].at);
      const next = takeTail ? tail[i++] : late[j++];
      this.push(next.at, next.row);
    }
  }

  private rowAt(index: number): AmountRow {
    const row = new Float64Array(METRIC_COUNT);
    for (let column = 0; column < METRIC_COUNT; column++) {
      const sums = this.sums[column];
      if (sums) row[column] = sums[index] - this.before(sums, index);
    }
    return row;
  }
}

/** The coarsest step bucket that an event at `at` may join by `now`; 0 when it is too young for any. */
function coarserBucket(at: number, now: number, steps: readonly CoarseningStep[]): number {
  for (const step of steps) {
    if ((Math.floor(at / step.bucketMs) + 1) * step.bucketMs <= now - step.afterMs) return step.bucketMs;
  }
  return 0;
}
