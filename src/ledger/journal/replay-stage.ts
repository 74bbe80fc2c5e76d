// Start-up replay's staging: records gathered per scope, then loaded scope by scope, so each scope's state is brought into cache once per batch, not per record.
import { METRIC_COUNT, type AmountRow } from '../amounts.ts';
import { sessionIdleMs } from '../scope-state.ts';
import { LogArena } from '../log-arena.ts';

/** Records held before they are loaded (about 4 MB with their links). */
const STAGE_RECORDS = 65_536;

/**
 * One scope's staged records, in file order: record `records[i]` (i < count) has time `at[record]` and amounts
 * `rows[record * METRIC_COUNT + column]`. `share` is the part of the journal read so far (0 to 1): a hint for sizing
 * the scope's log once for what the rest of the journal will likely bring, rather than growing it step by step; the
 * log is then carved from `arena` (the replay's, one for all its scopes).
 */
export interface StagedRun {
  readonly at: Float64Array;
  readonly rows: Float64Array;
  readonly records: Int32Array;
  readonly count: number;
  readonly share: number;
  readonly arena: LogArena;
}

/** The metric columns the run's records from `from` on use (bit c: column c), for sizing a log with them (EventLog.reserve). */
export function runColumns(run: StagedRun, from: number): number {
  let columns = 0;
  for (let i = from; i < run.count; i++) {
    const offset = run.records[i] * METRIC_COUNT;
    for (let column = 0; column < METRIC_COUNT; column++) if (run.rows[offset + column] !== 0) columns |= 1 << column;
  }
  return columns;
}

/** What the stage loads into (MemoryLedger): one scope's records at a time, each scope of a record once. */
export interface ScopeLoader {
  loadScope(scope: string, run: StagedRun, now: number): void;
}

/**
 * A fleet's journal interleaves thousands of scopes, so loading record by record touches a cold scope state each time.
 * Staged records are linked per scope in file order and loaded scope by scope: each scope still gets its records in
 * file order (so in time order, as its event log wants them), whichever lists they came in. Lists are numbered by
 * RecordBytesDecoder; a list with a session scope is not staged (scopesOf is null): a session's totals depend on the
 * order of its records (idle resets), and which session is forgotten first on the order of all of them.
 */
export class ReplayStage {
  readonly #at = new Float64Array(STAGE_RECORDS);
  readonly #rows = new Float64Array(STAGE_RECORDS * METRIC_COUNT);
  /**
   * One link per scope of a staged record: the record, and the next link of the same scope (-1: none). `#linkNext` has
   * one slot more, written for a scope's first link (add: the same store either way, no path first taken late).
   */
  #linkRecord = new Int32Array(2 * STAGE_RECORDS);
  #linkNext = new Int32Array(2 * STAGE_RECORDS + 1);
  /** Per scope number: its first and last link staged (-1: none). */
  #first = new Int32Array(1024);
  #last = new Int32Array(1024).fill(-1);
  /** Scopes staged, in the order they first appeared. */
  #order = new Int32Array(1024);
  /** Scope numbers by name, and names by number. */
  readonly #numbers = new Map<string, number>();
  readonly #names: string[] = [];
  /** Per list number: its distinct scopes' numbers, or null when the list is not staged. */
  readonly #lists: (Int32Array | null | undefined)[] = [];
  /** The run handed to the loader, one scope at a time (its records: gathered from the links). */
  readonly #run = { at: this.#at, rows: this.#rows, records: new Int32Array(STAGE_RECORDS), count: 0, share: 1, arena: new LogArena() };
  #records = 0;
  #links = 0;
  #scopes = 0;

  constructor(
    private readonly loader: ScopeLoader,
    private readonly now: number,
  ) {}

  /**
   * The numbers of a list's scopes (the list's number: RecordBytesDecoder's, -1 for one not numbered) when its records
   * are staged; null when they are loaded at once.
   */
  scopesOf(list: number, scopes: readonly string[]): Int32Array | null {
    if (list < 0) return null;
    let numbers = this.#lists[list];
    if (numbers === undefined) numbers = this.#lists[list] = scopes.some((scope) => sessionIdleMs(scope) > 0) ? null : this.#number(scopes);
    return numbers;
  }

  /** Stages a record on its scopes (as scopesOf numbered them); the caller flushes once the stage is full. */
  add(scopes: Int32Array, at: number, row: AmountRow): void {
    const record = this.#records++;
    this.#at[record] = at;
    const offset = record * METRIC_COUNT;
    for (let column = 0; column < METRIC_COUNT; column++) this.#rows[offset + column] = row[column];
    if (this.#links + scopes.length > this.#linkRecord.length) this.#growLinks(scopes.length);
    for (let i = 0; i < scopes.length; i++) {
      const scope = scopes[i];
      const link = this.#links++;
      this.#linkRecord[link] = record;
      this.#linkNext[link] = -1;
      const last = this.#last[scope];
      this.#linkNext[last < 0 ? this.#linkRecord.length : last] = link;
      if (last < 0) {
        this.#first[scope] = link;
        this.#order[this.#scopes++] = scope;
      }
      this.#last[scope] = link;
    }
  }

  /** No room for another record: flush() before the next add(). */
  get full(): boolean {
    return this.#records === STAGE_RECORDS;
  }

  /** Records add() takes before the stage is full. */
  get room(): number {
    return STAGE_RECORDS - this.#records;
  }

  /** The part of the journal read so far (0 to 1), for the loader's sizing (StagedRun.share). */
  set share(share: number) {
    this.#run.share = share;
  }

  /** Loads everything staged, scope by scope: before a record that is not staged, and at the end. */
  flush(): void {
    const scopes = this.#scopes;
    this.#records = 0;
    this.#links = 0;
    this.#scopes = 0;
    this.#load(scopes);
  }

  /**
   * Loads the first `scopes` scopes of `#order`. Only the loop: called once per flush, its loop optimized on the way, so
   * anything before or after it would first run optimized without feedback (and its code be thrown away each time).
   */
  #load(scopes: number): void {
    for (let position = 0; position < scopes; position++) {
      const run = this.#run;
      const records = run.records;
      const scope = this.#order[position];
      let count = 0;
      for (let link = this.#first[scope]; link >= 0; link = this.#linkNext[link]) records[count++] = this.#linkRecord[link];
      run.count = count;
      this.loader.loadScope(this.#names[scope], run, this.now);
      this.#last[scope] = -1;
    }
  }

  /** The numbers of a list's scopes, each once (a scope listed twice counts once). */
  #number(scopes: readonly string[]): Int32Array {
    const numbers: number[] = [];
    for (const scope of scopes) {
      let number = this.#numbers.get(scope);
      if (number === undefined) {
        number = this.#names.length;
        this.#numbers.set(scope, number);
        this.#names.push(scope);
        if (number === this.#first.length) this.#growScopes();
      }
      if (!numbers.includes(number)) numbers.push(number);
    }
    return Int32Array.from(numbers);
  }

  #growScopes(): void {
    const size = this.#first.length * 2;
    const first = new Int32Array(size);
    first.set(this.#first);
    const last = new Int32Array(size).fill(-1);
    last.set(this.#last);
    const order = new Int32Array(size);
    order.set(this.#order);
    [this.#first, this.#last, this.#order] = [first, last, order];
  }

  #growLinks(needed: number): void {
    const size = Math.max(this.#linkRecord.length * 2, this.#links + needed);
    const records = new Int32Array(size);
    records.set(this.#linkRecord);
    const next = new Int32Array(size + 1);
    next.set(this.#linkNext);
    [this.#linkRecord, this.#linkNext] = [records, next];
  }
}
