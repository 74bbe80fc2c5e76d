// Reading the journal back at start-up (streamed, bounded memory) and compacting it (drop records older than retention).
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Ledger } from './ledger.ts';
import { fromRow } from './amounts.ts';
import { decodeRecord, leadingTime } from './journal-record.ts';

export interface ReplayProgress {
  readonly records: number;
  readonly skipped: number;
}

export interface ReplayResult {
  /** Records applied to the ledger. */
  readonly records: number;
  /** Malformed lines (a torn last line, foreign text). */
  readonly skipped: number;
  /** Well-formed records older than the retention, not applied. */
  readonly expired: number;
  readonly ms: number;
}

export interface ReplayOptions {
  readonly file: string;
  readonly ledger: Pick<Ledger, 'record'>;
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
  let records = 0;
  let skipped = 0;
  let expired = 0;
  let lines = 0;
  for await (const line of readLines(options.file)) {
    if (line.length === 0) continue;
    lines += 1;
    const record = decodeRecord(line);
    if (!record) skipped += 1;
    else if (record.at <= cutoff) expired += 1;
    else {
      await options.ledger.record({ scopes: record.scopes, amounts: fromRow(record.row), at: record.at });
      records += 1;
    }
    if (options.onProgress && lines % PROGRESS_EVERY === 0) options.onProgress({ records, skipped });
  }
  options.onProgress?.({ records, skipped });
  return { records, skipped, expired, ms: Math.round(performance.now() - started) };
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
}

/**
 * Rewrites the journal without records older than retention and without malformed lines: a scan first (cheap, no
 * full parse of lines this module wrote), then, only if something must go, a copy to a temp file, fsync, rename.
 * Run it before the journal is opened for appending.
 */
export async function compactJournal(options: CompactOptions): Promise<CompactResult> {
  const started = performance.now();
  const cutoff = (options.now ?? Date.now)() - options.retentionMs;
  const keep = (line: string): boolean => {
    const fast = leadingTime(line);
    if (fast !== null && line.endsWith('}')) return fast > cutoff;
    const record = decodeRecord(line);
    return record !== null && record.at > cutoff;
  };
  let kept = 0;
  let dropped = 0;
  for await (const line of readLines(options.file)) {
    if (line.length === 0) continue;
    if (keep(line)) kept += 1;
    else dropped += 1;
  }
  if (dropped === 0) return { kept, dropped, rewritten: false, ms: Math.round(performance.now() - started) };

  const temp = `${options.file}.compact-${process.pid}.tmp`;
  const handle = await open(temp, 'w');
  try {
    let buffered: string[] = [];
    let bufferedChars = 0;
    for await (const line of readLines(options.file)) {
      if (line.length === 0 || !keep(line)) continue;
      buffered.push(line, '\n');
      bufferedChars += line.length + 1;
      if (bufferedChars >= 1 << 20) {
        await handle.writeFile(buffered.join(''));
        buffered = [];
        bufferedChars = 0;
      }
    }
    if (buffered.length > 0) await handle.writeFile(buffered.join(''));
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, options.file);
  await syncDirectory(dirname(options.file));
  return { kept, dropped, rewritten: true, ms: Math.round(performance.now() - started) };
}

/** Lines of a file, streamed; nothing when the file does not exist. */
async function* readLines(file: string): AsyncGenerator<string> {
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  const opened = new Promise<boolean>((resolve, reject) => {
    stream.once('open', () => resolve(true));
    stream.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? resolve(false) : reject(error)));
  });
  if (!(await opened)) return;
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) yield line;
  } finally {
    lines.close();
    stream.destroy();
  }
}

async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  }
}
