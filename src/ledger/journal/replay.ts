// Reading the journal back at start-up (streamed, bounded memory) and compacting it (drop records older than retention).
import { stat } from 'node:fs/promises';
import type { Ledger } from '../ledger.ts';
import { fromRow, ledgerAmount, METRIC_COUNT, type AmountRow } from '../amounts.ts';
import { decodeMark, decodeRecord, encodeRecord, leadingTime, type DecodedRecord } from './record.ts';
import { LIFE_PREFIX, sessionIdleMs } from '../scope-state.ts';
import { readLineBatches, readLineChunks, replaceFile, writeAll, type LineChunk } from './file.ts';
import { RecordBytesDecoder } from './record-bytes.ts';
import { IdsSinceMark, type JournaledCalls } from './ids-since-mark.ts';
import { ReplayStage, type ScopeLoader } from './replay-stage.ts';

export type { JournaledCalls } from './ids-since-mark.ts';

export interface ReplayProgress {
  readonly records: number;
  readonly skipped: number;
}

export interface ReplayResult {
  /** Records applied to the ledger. */
  readonly records: number;
  /** Malformed lines (a torn last line, foreign text). */
  readonly skipped: number;
  /** Lines read (not counting empty ones): records, watermarks, malformed. */
  readonly lines: number;
  /** Well-formed records older than the retention: applied to lifetime totals only (RecordLoader), else not at all. */
  readonly expired: number;
  /** What start-up reconciliation needs: the last watermark, and the calls the journal holds by id since it. */
  readonly journaled: JournaledCalls;
  readonly ms: number;
}

/**
 * A ledger that can take decoded records synchronously (MemoryLedger): replay then skips a promise per record. The
 * record passed is reused for the next line: a loader copies what it keeps. `now` is the replay's, read once.
 */
export interface RecordLoader {
  loadRecord(record: DecodedRecord, now?: number): void;
  /** A record older than the retention: lifetime totals only. */
  loadLifetime?(record: DecodedRecord): void;
  /** One scope of a record within the retention: replay then stages records by scope (replay-stage.ts). */
  loadScope?: ScopeLoader['loadScope'];
}

export interface ReplayOptions {
  readonly file: string;
  readonly ledger: Pick<Ledger, 'record'> | RecordLoader;
  readonly retentionMs: number;
  readonly now?: () => number;
  /** Called every 50,000 lines and once at the end. */
  readonly onProgress?: (progress: ReplayProgress) => void;
}

const PROGRESS_EVERY = 50_000;

/** Applies every record of the journal (newer than retention) to the ledger with `record()`. A missing file replays nothing. */
export async function replayJournal(options: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const now = (options.now ?? Date.now)();
  const loader = 'loadRecord' in options.ledger ? options.ledger : null;
  const ledger = 'record' in options.ledger ? options.ledger : null;
  const replay = new ChunkReplay(now - options.retentionMs, now, loader);
  // the part of the file read so far, for the stage's loader to size each scope's log ahead (StagedRun.share)
  const size = replay.stage
    ? await stat(options.file).then(
        (file) => file.size,
        () => 0,
      )
    : 0;
  let read = 0;
  let nextProgress = PROGRESS_EVERY;
  const later: DecodedRecord[] = [];
  for await (const chunk of readLineChunks(options.file)) {
    read += chunk.buffer.length;
    if (replay.stage) replay.stage.share = size > 0 ? Math.min(1, read / size) : 1;
    replay.chunk(chunk, later);
    // a ledger without loadRecord: its records in order, awaited one by one
    for (const record of later) await ledger!.record({ scopes: record.scopes, amounts: fromRow(record.row), at: record.at });
    later.length = 0;
    const { records, skipped, expired } = replay;
    if (options.onProgress && records + skipped + expired >= nextProgress) {
      options.onProgress({ records, skipped });
      nextProgress += PROGRESS_EVERY;
    }
  }
  replay.stage?.flush();
  const { records, skipped, expired, lines } = replay;
  options.onProgress?.({ records, skipped });
  return { records, skipped, expired, lines, journaled: replay.ids.result(), ms: Math.round(performance.now() - started) };
}

/**
 * A replay's work on the lines of one read chunk after another: a plain synchronous loop, out of the async function,
 * its hot part (#staged: lines this module wrote, staged) a loop of its own that neither loads the stage nor handles
 * the rarer lines. Its optimized code is thrown away and rebuilt when a path in it is first taken late, and it was
 * rebuilt about ten times per replay, everything inlined in it each time (a watermark, the stage's first flush, a
 * scope's second record in a stage): what is left to it now is taken from the first lines on.
 */
class ChunkReplay {
  records = 0;
  skipped = 0;
  expired = 0;
  lines = 0;
  readonly ids = new IdsSinceMark();
  /** The lines this module wrote, decoded without JSON.parse; the rest through decodeRecord. */
  readonly #bytes = new RecordBytesDecoder();
  readonly #record: { at: number; scopes: readonly string[]; readonly row: DecodedRecord['row'] } = { at: 0, scopes: [], row: this.#bytes.row };
  readonly stage: ReplayStage | null;

  constructor(
    private readonly cutoff: number,
    private readonly now: number,
    private readonly loader: RecordLoader | null,
  ) {
    this.stage = loader?.loadScope ? new ReplayStage(loader as ScopeLoader, now) : null;
  }

  /** The chunk's lines; the records for a ledger without loadRecord go to `later` (the caller awaits them in order). */
  chunk({ buffer, starts, ends, count }: LineChunk, later: DecodedRecord[]): void {
    const stage = this.stage;
    this.#bytes.use(buffer);
    this.ids.reserve(buffer.length, count); // the chunk's ids fit: #staged never grows it
    let index = 0;
    while (index < count) {
      if (stage !== null) {
        if (stage.full) stage.flush();
        const to = Math.min(count, index + stage.room);
        index = this.#staged(buffer, starts, ends, index, to);
        if (index === to) continue;
      }
      this.#line(buffer, starts[index], ends[index], later);
      index += 1;
    }
  }

  /**
   * Lines `[from, to)` while they are records this module wrote that the stage takes (within the retention, on a list
   * it stages); the index of the first that is not (#line's then), or `to`. The stage has room for `to − from` records.
   */
  #staged(buffer: Buffer, starts: Int32Array, ends: Int32Array, from: number, to: number): number {
    for (let index = from; index < to; index++) {
      // nothing read before the loop: this runs once per chunk, its loop optimized on the way, and what ran before the
      // loop then left the JIT no feedback (its code for the next call thrown away on entry)
      const bytes = this.#bytes;
      const stage = this.stage!;
      const start = starts[index];
      const end = ends[index];
      if (start === end) continue;
      if (!bytes.decodeAt(buffer, start, end) || bytes.at <= this.cutoff) return index;
      const staged = stage.scopesOf(bytes.list, bytes.scopes);
      if (staged === null) return index;
      this.lines += 1;
      if (bytes.idStart >= 0) this.ids.addBytes(buffer, bytes.idStart, bytes.idEnd);
      stage.add(staged, bytes.at, bytes.row);
      this.records += 1;
    }
    return to;
  }

  /** One line, whatever it holds: a record (staged or not), a watermark, malformed (skipped). */
  #line(buffer: Buffer, start: number, end: number, later: DecodedRecord[]): void {
    if (start === end) return;
    this.lines += 1;
    const bytes = this.#bytes;
    if (!bytes.decodeAt(buffer, start, end)) {
      this.#text(buffer.toString('utf8', start, end), later);
      return;
    }
    if (bytes.idStart >= 0) this.ids.addBytes(buffer, bytes.idStart, bytes.idEnd);
    const staged = this.stage !== null && bytes.at > this.cutoff ? this.stage.scopesOf(bytes.list, bytes.scopes) : null;
    if (staged !== null) {
      this.stage!.add(staged, bytes.at, bytes.row);
      this.records += 1;
    } else this.#apply(this.#decoded(), later);
  }

  /** The line just decoded as a record: one object for every line (a loader copies what it keeps), a copy when queued. */
  #decoded(): DecodedRecord {
    const bytes = this.#bytes;
    if (!this.loader) return { at: bytes.at, scopes: bytes.scopes, row: Float64Array.from(bytes.row) };
    const record = this.#record;
    record.at = bytes.at;
    record.scopes = bytes.scopes;
    return record;
  }

  /** A line not in this module's byte form: a record written otherwise, a watermark, or malformed (skipped). */
  #text(text: string, later: DecodedRecord[]): void {
    const record = decodeRecord(text);
    if (record) {
      if (record.requestId !== undefined) this.ids.add(record.requestId);
      this.#apply(record, later);
      return;
    }
    const mark = decodeMark(text);
    if (mark) this.ids.mark(mark);
    else this.skipped += 1;
  }

  /** A record not staged: past the retention (lifetime totals only), or loaded (or queued) at once. */
  #apply(record: DecodedRecord, later: DecodedRecord[]): void {
    if (record.at <= this.cutoff && !isLifeRecord(record)) {
      this.expired += 1;
      this.loader?.loadLifetime?.(record); // lifetime totals keep it
      return;
    }
    this.stage?.flush(); // what was staged comes first: a scope gets its records in file order
    if (this.loader) this.loader.loadRecord(record, this.now);
    else later.push(record);
    this.records += 1;
  }
}

export interface CompactResult {
  readonly kept: number;
  /** Records older than retention plus malformed lines. */
  readonly dropped: number;
  /** False when nothing needed dropping and the file was left as it was. */
  readonly rewritten: boolean;
  readonly ms: number;
}

export interface CompactOptions {
  readonly file: string;
  readonly retentionMs: number;
  readonly now?: () => number;
  /**
   * Skip the scan when the file's first record is still within retention (appends come in time order, so nothing
   * behind it has expired either; a stray older record waits for the next compaction after the first one expires).
   */
  readonly skipWhenFirstIsFresh?: boolean;
}

/**
 * Rewrites the journal without records older than retention and without malformed lines: a scan first (cheap, no
 * full parse of lines this module wrote), then, only if something must go, a copy to a temp file, fsync, rename.
 * Run it before the journal is opened for appending.
 */
export async function compactJournal(options: CompactOptions): Promise<CompactResult> {
  const started = performance.now();
  const cutoff = (options.now ?? Date.now)() - options.retentionMs;
  if (options.skipWhenFirstIsFresh) {
    const first = await firstRecordTime(options.file);
    if (first === null || first > cutoff) return { kept: 0, dropped: 0, rewritten: false, ms: Math.round(performance.now() - started) };
  }
  // an expired record still counts in its scopes' lifetime totals: it is folded into one `life:<scope>` line per scope,
  // which no compaction drops (a session's usage is not: its idle time is far shorter than the retention)
  const life = new Map<string, { at: number; readonly row: AmountRow }>();
  const keep = (line: Buffer, fold: boolean): boolean => {
    const fast = leadingTime(line);
    if (fast !== null && fast > cutoff) return true;
    const record = decodeRecord(line.toString('utf8'));
    if (record === null) return false;
    if (record.at > cutoff || isLifeRecord(record)) return true;
    if (fold) foldLife(life, record);
    return false;
  };
  let kept = 0;
  let dropped = 0;
  for await (const batch of readLineBatches(options.file)) {
    for (const line of batch) {
      if (line.length === 0) continue;
      if (keep(line, false)) kept += 1;
      else dropped += 1;
    }
  }
  if (dropped === 0) return { kept, dropped, rewritten: false, ms: Math.round(performance.now() - started) };

  await replaceFile(options.file, async (handle) => {
    for await (const batch of readLineBatches(options.file)) for (const line of batch) if (line.length > 0) keep(line, true);
    // first, at the time of the latest usage each folds: older than every record kept, so the file stays in time order
    let lines = '';
    for (const [scope, folded] of life) lines += encodeRecord(folded.at, [`${LIFE_PREFIX}${scope}`], folded.row);
    if (lines) await writeAll(handle, Buffer.from(lines, 'utf8'));
    for await (const batch of readLineBatches(options.file)) {
      const parts: Buffer[] = [];
      for (const line of batch) {
        if (line.length > 0 && keep(line, false)) parts.push(line, NEWLINE);
      }
      if (parts.length > 0) await writeAll(handle, Buffer.concat(parts));
    }
  });
  return { kept, dropped, rewritten: true, ms: Math.round(performance.now() - started) };
}

const NEWLINE = Buffer.from('\n');
const LIFE_MARK = Buffer.from(`"s":["${LIFE_PREFIX}`);

/** A `life:<scope>` record: usage that left the retention, kept for lifetime totals whatever its time. */
function isLifeRecord(record: DecodedRecord): boolean {
  return record.scopes.every((scope) => scope.startsWith(LIFE_PREFIX));
}

function foldLife(life: Map<string, { at: number; readonly row: AmountRow }>, record: DecodedRecord): void {
  for (const scope of record.scopes) {
    if (sessionIdleMs(scope) > 0) continue;
    let folded = life.get(scope);
    if (!folded) {
      folded = { at: record.at, row: new Float64Array(METRIC_COUNT) };
      life.set(scope, folded);
    }
    folded.at = Math.max(folded.at, record.at);
    for (let column = 0; column < METRIC_COUNT; column++) folded.row[column] = ledgerAmount(folded.row[column] + record.row[column]);
  }
}

/** The time of the file's first record; null when the file is missing, empty or does not start with a record. */
async function firstRecordTime(file: string): Promise<number | null> {
  for await (const batch of readLineBatches(file, 64 * 1024)) {
    const line = batch.find((candidate) => candidate.length > 0 && !candidate.includes(LIFE_MARK)); // lifetime lines are old
    if (!line) continue;
    return leadingTime(line) ?? decodeRecord(line.toString('utf8'))?.at ?? null;
  }
  return null;
}
