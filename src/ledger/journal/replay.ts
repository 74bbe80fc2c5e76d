// Reading the journal back at start-up (streamed, bounded memory) and compacting it (drop records older than retention).
import type { Ledger } from '../ledger.ts';
import { fromRow, ledgerAmount, METRIC_COUNT, type AmountRow } from '../amounts.ts';
import { decodeMark, decodeRecord, encodeRecord, leadingTime, type DecodedRecord } from './record.ts';
import { LIFE_PREFIX, sessionIdleMs } from '../scope-state.ts';
import { readLineBatches, replaceFile, writeAll } from './file.ts';
import { RecordBytesDecoder } from './record-bytes.ts';

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

/** The journal's last watermark (null when it has none: written by an older version) and the request ids it vouches for. */
export interface JournaledCalls {
  readonly watermark: number | null;
  readonly requestIds: ReadonlySet<string>;
}

/** A ledger that can take decoded records synchronously (MemoryLedger): replay then skips a promise per record. */
export interface RecordLoader {
  loadRecord(record: DecodedRecord): void;
  /** A record older than the retention: lifetime totals only. */
  loadLifetime?(record: DecodedRecord): void;
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
  const cutoff = (options.now ?? Date.now)() - options.retentionMs;
  const loader = 'loadRecord' in options.ledger ? options.ledger : null;
  const ledger = 'record' in options.ledger ? options.ledger : null;
  let records = 0;
  let skipped = 0;
  let expired = 0;
  let lines = 0;
  let nextProgress = PROGRESS_EVERY;
  let watermark: number | null = null;
  let requestIds = new Set<string>();
  const bytes = new RecordBytesDecoder(); // the lines it wrote, without JSON.parse; the rest through decodeRecord
  for await (const batch of readLineBatches(options.file)) {
    for (const line of batch) {
      if (line.length === 0) continue;
      lines += 1;
      const record = bytes.decode(line) ?? decodeRecord(line.toString('utf8'));
      if (record?.requestId !== undefined) requestIds.add(record.requestId);
      if (!record) {
        // a watermark vouches for everything above it: the ids before it are no longer needed
        const mark = decodeMark(line.toString('utf8'));
        if (mark) {
          watermark = mark.watermark;
          requestIds = new Set(mark.requestIds);
        } else skipped += 1;
      } else if (record.at <= cutoff && !isLifeRecord(record)) {
        expired += 1;
        loader?.loadLifetime?.(record); // lifetime totals keep it
      } else {
        if (loader) loader.loadRecord(record);
        else await ledger!.record({ scopes: record.scopes, amounts: fromRow(record.row), at: record.at });
        records += 1;
      }
    }
    if (options.onProgress && records + skipped + expired >= nextProgress) {
      options.onProgress({ records, skipped });
      nextProgress += PROGRESS_EVERY;
    }
  }
  options.onProgress?.({ records, skipped });
  return { records, skipped, expired, lines, journaled: { watermark, requestIds }, ms: Math.round(performance.now() - started) };
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
