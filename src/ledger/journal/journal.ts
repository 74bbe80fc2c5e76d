// The durable form of the embedded ledger: an append-only JSONL file of settlements, written in order, rewritten from the ledger's held state now and then.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AmountRow } from '../amounts.ts';
import { encodeMark, encodeRecord } from './record.ts';
import { appendAllSync, bytesWrittenBefore, cutTornTail, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, type WriteBytes } from './file.ts';
import { compactJournal, type CompactResult } from './replay.ts';
import { writeSnapshot, type LedgerSnapshot } from './snapshot.ts';

export { compactJournal, replayJournal } from './replay.ts';
export { cutTornTail, removeStaleRewrites } from './file.ts';
export type { CompactResult, JournaledCalls, ReplayResult } from './replay.ts';
export type { LedgerSnapshot } from './snapshot.ts';

export const JOURNAL_FILE_NAME = 'journal.jsonl';

/** One settlement (or recorded usage) to append; `requestId` names the call it charges. */
export interface JournalEntry {
  readonly at: number;
  readonly scopes: readonly string[];
  readonly row: AmountRow;
  readonly requestId?: string;
}

/** What the ledger needs from a journal: ordered appends that never block it, and a way to wait for them. */
export interface JournalSink {
  append(entry: JournalEntry): void;
  /**
   * Resolves once every line appended so far has had its write attempted (in the file, or failed: see lastError), in
   * the batch of everything appended meanwhile (group commit). What a call's answer waits for before it ends.
   */
  durable?(): Promise<void>;
  /** Resolves once everything appended so far is written; rejects if the disk refused it. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** The last write failure, cleared by the next successful write. */
  readonly lastError: Error | null;
}

export interface JournalOptions {
  readonly file: string;
  /** Lines kept in memory while the disk refuses writes; beyond that the oldest are dropped (and counted). */
  readonly maxQueuedLines?: number;
  /** Lines the file already holds (the start-up compaction counts them); appends are counted from there. */
  readonly lines?: number;
  /**
   * Compaction while running, every `everyMs`: when the ledger's `snapshot` (its usage as it holds it: folded per
   * second, coarser as it ages) has at most half as many records as the file has lines, the file is rewritten from it;
   * otherwise records older than `retentionMs` are dropped. A journal then stays within about twice what the ledger
   * holds (a few thousand lines per scope) however many calls settle, where one line per settlement kept for the
   * retention grows to hundreds of millions of lines at 100 calls/s.
   */
  readonly compaction?: {
    readonly everyMs: number;
    readonly retentionMs: number;
    readonly now?: () => number;
    readonly snapshot?: () => LedgerSnapshot;
    readonly onError?: (error: Error) => void;
  };
  /** The data directory's lock (data-dir-lock.ts), held while the journal is open and released when it closes. */
  readonly lock?: { release(): Promise<void> };
  /** Clock for watermarks (default Date.now). */
  readonly now?: () => number;
  /** How often a watermark line is appended (default 10 minutes; 0: only at start-up and at the head of rewrites). */
  readonly markEveryMs?: number;
  /** How a batch reaches the file (default fs.writeSync, on this thread: file.ts's appendAllSync); tests put a failing disk here. */
  readonly writeBytes?: WriteBytes;
}

/**
 * A watermark written at time M says "every charged call whose history entry ended at or before M − this is above";
 * calls appended in the last margin are listed in it by id. The margin covers the gap between a call's history line
 * and its journal line (microseconds: settle follows the history write) and small clock steps.
 */
export const MARK_MARGIN_MS = 30_000;
const DEFAULT_MARK_EVERY_MS = 10 * 60 * 1000;

interface DurableWaiter {
  readonly target: number;
  readonly resolve: () => void;
}

export interface JournalStats {
  readonly written: number;
  readonly queued: number;
  readonly dropped: number;
}

/**
 * Appends go to a queue; if no write is in flight one starts on the next turn of the event loop with everything queued
 * by then, otherwise they join the next batch (group commit: one write per batch, whatever the call rate). A batch is
 * one write(2) on this thread (appendAllSync: a page-cache append, cheaper than a thread-pool round trip). `durable()`
 * waits for the batch holding what was appended so far. Durable against a process crash once written (the kernel holds
 * written pages; no fsync per batch); `close()` also fsyncs, for power loss at shutdown. Watermark lines (every 10
 * minutes, at start-up and at the head of a rewrite) bound what start-up reconciliation reads (reconcile.ts).
 */
export class Journal implements JournalSink {
  private queue: string[] = [];
  private writing: Promise<void> | null = null;
  private failed = false;
  private closed = false;
  private error: Error | null = null;
  private written = 0;
  private dropped = 0;
  /** Lines in the file (complete ones this journal knows of). */
  private lines: number;
  /** A compaction in progress: writes wait for it (appends keep queueing), then go to the rewritten file. */
  private compacting: Promise<CompactResult> | null = null;
  private compactionTimer: NodeJS.Timeout | null = null;
  private markTimer: NodeJS.Timeout | null = null;
  private drainScheduled = false;
  /** Lines appended so far, and how many of them have had their write attempted (durable() waits on these). */
  private appended = 0;
  private attempted = 0;
  private waiters: DurableWaiter[] = [];
  /** Request ids appended within the watermark margin, oldest first (from `recentHead`), for the next watermark. */
  private recent: { readonly at: number; readonly id: string }[] = [];
  private recentHead = 0;
  private readonly now: () => number;
  /** Watermark lines appended since the file was last rewritten from a snapshot (not counted as records it could fold). */
  private marks = 0;
  /** The start-up watermark's time: calls of earlier processes all ended before it. */
  private floor = Number.NEGATIVE_INFINITY;

  private constructor(
    private handle: FileHandle,
    private readonly options: JournalOptions & { readonly maxQueuedLines: number },
  ) {
    this.lines = options.lines ?? 0;
    this.now = options.now ?? Date.now;
    const markEveryMs = options.markEveryMs ?? DEFAULT_MARK_EVERY_MS;
    if (markEveryMs > 0) {
      this.markTimer = setInterval(() => this.mark(), markEveryMs);
      this.markTimer.unref();
    }
    const compaction = options.compaction;
    if (compaction && compaction.everyMs > 0) {
      this.compactionTimer = setInterval(() => {
        this.compact({ retentionMs: compaction.retentionMs, now: compaction.now, snapshot: compaction.snapshot }).catch((error: Error) =>
          compaction.onError?.(error),
        );
      }, compaction.everyMs);
      this.compactionTimer.unref();
    }
  }

  /** Opens (creating folders and file) for appending, first cutting a torn last line left by a crash. */
  static async open(options: JournalOptions): Promise<Journal> {
    await mkdir(dirname(options.file), { recursive: true, mode: PRIVATE_DIR_MODE });
    await cutTornTail(options.file);
    const handle = await open(options.file, 'a', PRIVATE_FILE_MODE);
    await handle.chmod(PRIVATE_FILE_MODE).catch(() => undefined); // a journal made 0644 by an older version
    return new Journal(handle, { ...options, maxQueuedLines: options.maxQueuedLines ?? 1_000_000 });
  }

  get lastError(): Error | null {
    return this.error;
  }

  get stats(): JournalStats {
    return { written: this.written, queued: this.queue.length, dropped: this.dropped };
  }

  append(entry: JournalEntry): void {
    if (this.closed) throw new Error('ledger journal is closed');
    this.enqueue(encodeRecord(entry.at, entry.scopes, entry.row, entry.requestId));
    if (entry.requestId !== undefined) this.remember(entry.requestId);
  }

  /**
   * Resolves once everything appended so far has had its write attempted. During a compaction it resolves at once:
   * the lines wait for the rewritten file, and a call's history line (written before its charge) covers them at start-up.
   */
  durable(): Promise<void> {
    const target = this.appended;
    if (target <= this.attempted || this.closed || this.compacting) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  /** Appends a watermark: calls whose history ended more than MARK_MARGIN_MS ago are in the file; later ones listed. */
  mark(): void {
    if (this.closed) return;
    this.enqueue(this.markLine());
    this.marks += 1;
  }

  /**
   * Appends the start-up watermark, once history has been reconciled (or the ledger rebuilt from it): every call in
   * history so far is in the file, and no call is in progress. Later watermarks never go below it.
   */
  markStart(): void {
    this.floor = this.now();
    this.enqueue(encodeMark(this.floor, []));
    this.marks += 1;
  }

  private markLine(): string {
    const watermark = Math.max(this.now() - MARK_MARGIN_MS, this.floor);
    this.forgetBefore(watermark);
    const ids: string[] = [];
    for (let index = this.recentHead; index < this.recent.length; index++) ids.push(this.recent[index].id);
    return encodeMark(watermark, ids);
  }

  private remember(id: string): void {
    const at = this.now();
    this.recent.push({ at, id });
    if ((this.recent.length & 1023) === 0) this.forgetBefore(at - MARK_MARGIN_MS);
  }

  private forgetBefore(time: number): void {
    while (this.recentHead < this.recent.length && this.recent[this.recentHead].at <= time) this.recentHead += 1;
    if (this.recentHead > 1024 && this.recentHead * 2 > this.recent.length) {
      this.recent = this.recent.slice(this.recentHead);
      this.recentHead = 0;
    }
  }

  private enqueue(line: string): void {
    this.queue.push(line);
    this.appended += 1;
    if (this.queue.length > this.options.maxQueuedLines) {
      this.queue.shift();
      this.dropped += 1;
    }
    if (this.writing || this.compacting || this.drainScheduled) return;
    // one turn of the event loop lets every call that settles in it join the same write
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      if (!this.writing && !this.compacting && this.queue.length > 0) this.writing = this.drain();
    });
  }

  private attemptedThrough(target: number): void {
    if (target > this.attempted) this.attempted = target;
    let done = 0;
    while (done < this.waiters.length && this.waiters[done].target <= this.attempted) this.waiters[done++].resolve();
    if (done > 0) this.waiters = this.waiters.slice(done);
  }

  /**
   * Rewrites the file while the journal stays open: from the ledger's snapshot when that halves it, otherwise without
   * records older than `retentionMs`. Waits for the write in flight, rewrites (temp file, fsync, rename), reopens, then
   * writes what was appended meanwhile. One at a time.
   */
  compact(input: {
    readonly retentionMs: number;
    readonly now?: () => number;
    readonly snapshot?: () => LedgerSnapshot;
    /** Rewrite from the snapshot even when it does not halve the file (start-up's replay saw expired or malformed lines). */
    readonly rewrite?: boolean;
  }): Promise<CompactResult> {
    if (this.closed) return Promise.reject(new Error('ledger journal is closed'));
    this.compacting ??= (async () => {
      try {
        await new Promise<void>((resolve) => setImmediate(resolve)); // the caller's turn goes on first (start-up: to ready)
        while (this.writing) await this.writing;
        const snapshot = input.snapshot?.(); // taken with no write in flight: it holds every line queued so far
        if (snapshot && (input.rewrite || snapshot.events * 2 <= this.lines + this.queue.length - this.marks)) return await this.rewriteFrom(snapshot);
        const result = await compactJournal({ file: this.options.file, retentionMs: input.retentionMs, now: input.now, skipWhenFirstIsFresh: true });
        if (result.rewritten) {
          await this.reopen();
          this.lines = result.kept;
        }
        return result;
      } finally {
        this.compacting = null;
        if (this.queue.length > 0 && !this.writing) this.writing = this.drain();
      }
    })();
    return this.compacting;
  }

  async flush(): Promise<void> {
    // a failed compaction leaves the file as it was: its error is the timer's to report, not the flush's
    while (this.writing || this.compacting) await (this.writing ?? this.compacting!.catch(() => undefined));
    if (this.queue.length > 0) {
      this.writing = this.drain();
      await this.writing;
    }
    if (this.queue.length > 0 && this.error) throw this.error;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.compactionTimer) clearInterval(this.compactionTimer);
    if (this.markTimer) clearInterval(this.markTimer);
    try {
      await this.flush();
      await this.handle.sync();
    } finally {
      this.attemptedThrough(Number.MAX_SAFE_INTEGER);
      this.closed = true;
      await this.handle.close();
      await this.options.lock?.release();
    }
  }

  /**
   * Replaces the file with the snapshot. The lines queued when it was taken are in it, and are still appended to the
   * old file first, so a crash before the rename leaves a journal that holds them; lines appended after the snapshot
   * wait in the queue for the new file.
   */
  private async rewriteFrom(snapshot: LedgerSnapshot): Promise<CompactResult> {
    const started = performance.now();
    const mark = this.markLine(); // the snapshot folds away request ids: its head vouches for them
    const inSnapshot = this.queue;
    const through = this.appended;
    this.queue = [];
    if (inSnapshot.length > 0 && !(await this.writeLines(inSnapshot))) throw this.error!;
    this.attemptedThrough(through);
    const before = this.lines;
    await writeSnapshot(this.options.file, snapshot, mark);
    await this.reopen();
    this.lines = snapshot.events + 1;
    this.marks = 1;
    return { kept: snapshot.events, dropped: Math.max(0, before - snapshot.events), rewritten: true, ms: Math.round(performance.now() - started) };
  }

  private async reopen(): Promise<void> {
    const previous = this.handle;
    this.handle = await open(this.options.file, 'a', PRIVATE_FILE_MODE);
    await previous.close();
  }

  /** Writes batches until the queue is empty; on failure keeps the batch queued for the next append or flush. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.compacting) {
        const batch = this.queue;
        const through = this.appended;
        this.queue = [];
        const ok = await this.writeLines(batch);
        this.attemptedThrough(through); // written, or failed (kept queued, reported): the answers waiting go on
        if (!ok) return;
      }
    } finally {
      this.writing = null;
    }
  }

  /**
   * Appends lines to the file; on failure records the error and puts back at the front of the queue the lines the file
   * does not hold whole: a batch cut part-way (a disk that fills up) is not written twice, which replay would count twice.
   */
  private async writeLines(batch: string[]): Promise<boolean> {
    // After a failed write the file may end in a partial line: start on a fresh line (blank lines are ignored).
    const lead = this.failed ? '\n' : '';
    const text = lead + batch.join('');
    try {
      appendAllSync(this.handle.fd, Buffer.from(text, 'utf8'), this.options.writeBytes);
    } catch (error) {
      const whole = wholeLines(batch, bytesWrittenBefore(error) - lead.length);
      this.failed = true;
      this.error = error instanceof Error ? error : new Error(String(error));
      this.written += whole;
      this.lines += whole;
      this.queue = batch.slice(whole).concat(this.queue);
      return false;
    }
    this.failed = false;
    this.error = null;
    this.written += batch.length;
    this.lines += batch.length;
    return true;
  }
}

/** How many lines of the batch lie whole within its first `bytes` bytes (lines are UTF-8, each ending in a newline). */
function wholeLines(batch: readonly string[], bytes: number): number {
  let left = bytes;
  let count = 0;
  for (const line of batch) {
    left -= Buffer.byteLength(line, 'utf8');
    if (left < 0) break;
    count += 1;
  }
  return count;
}
