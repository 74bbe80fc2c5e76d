// Settled usage of one scope in time order: typed-array columns with running sums, so a rolling-window sum is one binary search.
import { METRIC_COUNT, type AmountRow } from './amounts.ts';
import type { CoarseningStep } from './bucket-levels.ts';
import type { LogArena } from './log-arena.ts';

const INITIAL_CAPACITY = 8;

/**
 * A metric's running sums: 32-bit while they fit (4 bytes an event, where most scopes' sums over the retention stay),
 * 64-bit floats once one does not (every integer up to 2^53 exact). Either way each sum is held exactly.
 */
type Sums = Uint32Array | Float64Array;
/** relocate()'s scratch (one for every log: it runs to its end at once): each column's bytes an event in a new block. */
const WIDTHS = new Int32Array(METRIC_COUNT);

/**
 * Events live in `times[head, length)`, sorted by time. For each metric column that has ever been non-zero,
 * `sums[c][i]` is the running total of that metric over events `0..i` (inclusive) since the last rebase, so the
 * sum over any suffix `[i, length)` is `last - before(i)`. Appends and drops are amortised O(1); queries O(log n).
 * A column's sums are 32-bit until a sum does not fit (then 64-bit floats, until a rebase brings them back under
 * 2^32): 28 bytes an event with five metrics in use, where all 64-bit took 48.
 * Events that arrive out of order (a replay, a rebuild, a clock step back) wait in `pending` and are merged in
 * before the next query, costing O(p log p + tail) once rather than a shift per event.
 */
export class EventLog {
  /** Events in the same grain (`floor(at / grainMs)`) are held as one, at the latest one's time; 0 keeps each event. */
  private readonly grainMs: number;
  private times = new Float64Array(INITIAL_CAPACITY);
  /** Null until the metric is first non-zero in this scope (most scopes never see some metrics). */
  private readonly sums: (Sums | null)[] = new Array(METRIC_COUNT).fill(null);
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

  /** Slots the arrays hold (for tests and memory diagnostics). */
  get capacity(): number {
    return this.times.length;
  }

  /** Bytes of the arrays held (for tests and memory diagnostics). */
  get bytes(): number {
    let bytes = this.times.byteLength;
    for (const sums of this.sums) bytes += sums?.byteLength ?? 0;
    return bytes;
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

  private before(sums: Sums, index: number): number {
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
        sums = this.sums[column] = new Uint32Array(this.times.length); // zeros: the metric was 0 so far
      }
      const sum = (index === 0 ? 0 : sums[index - 1]) + value;
      sums[index] = sum;
      if (sums[index] !== sum) this.widen(column, sums)[index] = sum; // past 32 bits: read back, no test on the array's type
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
      if (!sums) sums = this.sums[column] = new Uint32Array(this.times.length); // zeros: the metric was 0 so far
      const sum = sums[last] + value;
      sums[last] = sum;
      if (sums[last] !== sum) this.widen(column, sums)[last] = sum;
    }
  }

  /** A column's sums (`narrow`) as 64-bit floats (one no longer fits in 32 bits), the same values. */
  private widen(column: number, narrow: Sums): Float64Array {
    const wide = new Float64Array(this.times.length);
    wide.set(narrow.subarray(0, this.length));
    this.sums[column] = wide;
    return wide;
  }

  /** Whether `more` appends fit without growing (reserve() then does nothing). */
  hasRoom(more: number): boolean {
    return this.length + more <= this.times.length;
  }

  /**
   * Room for `more` appends (start-up replay, before a scope's run of records), `share` (0 to 1) of the journal read:
   * when the log must grow, it grows to what the journal's rest will likely bring at the same pace (a tenth more), at
   * most 64 times what it then holds (a scope seen only in the journal's first pages does not take room for all of it;
   * at 8 times, each scope of a fleet's journal grew twice) and at least half again its capacity. `columns` (bit c:
   * metric column c) are the metrics the run uses: their running sums are made in the same block, carved from `arena`
   * if given.
   */
  reserve(more: number, share: number, columns = 0, arena: LogArena | null = null): void {
    if (this.hasRoom(more)) return;
    const needed = this.length - this.head + more;
    const expected = Math.ceil((needed / Math.max(share, 1 / 1024)) * 1.1);
    this.relocate(Math.max(needed, Math.min(expected, 64 * needed), Math.ceil(this.times.length * 1.5)), columns, arena);
  }

  /** Full array: slide the live events to the front if at least half is dead, otherwise double the capacity. */
  private makeRoom(): void {
    this.relocate(this.head >= this.times.length / 2 ? this.times.length : this.times.length * 2, 0, null);
  }

  /**
   * Moves the live events to the front of arrays of `capacity` (at least the live events): in place when it is the
   * present one, else into one block holding the times and every metric's sums that is in use or in `columns` (one
   * allocation where one per array cost a malloc and its page faults each: thousands of scopes grow at start-up; a part
   * of `arena`'s when given), each metric's sums 32-bit when its rebased sums fit.
   */
  private relocate(capacity: number, columns: number, arena: LogArena | null): void {
    const live = this.length - this.head;
    if (capacity === this.times.length) {
      this.times.copyWithin(0, this.head, this.length);
      for (const sums of this.sums) if (sums) this.moveSums(sums, sums, live);
    } else {
      const widths = WIDTHS; // per column: 0 (none), 4 or 8 bytes an event
      let bytes = 8;
      for (let column = 0; column < METRIC_COUNT; column++) {
        const old = this.sums[column];
        const fits = !old || live === 0 || old[this.length - 1] - this.before(old, this.head) <= 0xffffffff;
        widths[column] = !fits ? 8 : old || (columns & (1 << column)) !== 0 ? 4 : 0;
        bytes += widths[column];
      }
      // not zeroed (calloc's memset was a tenth of a start-up replay's loading): every array is written up to `live`
      // below, and nothing is read at or past `length`
      let offset = arena ? arena.take(bytes * capacity) : 0;
      const block = arena ? arena.buffer : Buffer.allocUnsafeSlow(bytes * capacity).buffer;
      const times = new Float64Array(block, offset, capacity);
      times.set(this.times.subarray(this.head, this.length));
      offset += 8 * capacity;
      // the 64-bit sums before the 32-bit ones: every view aligned
      for (let width = 8; width >= 4; width -= 4) {
        for (let column = 0; column < METRIC_COUNT; column++) {
          if (widths[column] !== width) continue;
          const sums = width === 8 ? new Float64Array(block, offset, capacity) : new Uint32Array(block, offset, capacity);
          offset += width * capacity;
          const old = this.sums[column];
          if (old) this.moveSums(old, sums, live);
          else sums.fill(0, 0, live); // the metric was 0 so far
          this.sums[column] = sums;
        }
      }
      this.times = times;
    }
    this.head = 0;
    this.length = live;
  }

  /** The live events' running sums from `old` to the front of `sums` (the same array when sliding), rebased to start at 0. */
  private moveSums(old: Sums, sums: Sums, live: number): void {
    const base = this.before(old, this.head);
    if (base === 0 && old !== sums) sums.set(old.subarray(this.head, this.length));
    else for (let i = 0; i < live; i++) sums[i] = old[this.head + i] - base; // reads run ahead of writes in place
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
