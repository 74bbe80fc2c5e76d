// The durable form of the embedded ledger: an append-only JSONL file of settlements, written in order, batched while a write is in flight.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AmountRow } from './amounts.ts';
import { encodeRecord } from './journal-record.ts';
import { cutTornTail, writeAll } from './journal-file.ts';

export { compactJournal, replayJournal } from './journal-replay.ts';
export { cutTornTail } from './journal-file.ts';
export type { CompactResult, ReplayResult } from './journal-replay.ts';

export const JOURNAL_FILE_NAME = 'journal.jsonl';

/** What the ledger needs from a journal: ordered appends that never block it, and a way to wait for them. */
export interface JournalSink {
  append(entry: { readonly at: number; readonly scopes: readonly string[]; readonly row: AmountRow }): void;
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
}

export interface JournalStats {
  readonly written: number;
  readonly queued: number;
  readonly dropped: number;
}

/**
 * Appends go to a queue; if no write is in flight one starts at once with everything queued, otherwise they join the
 * next batch. There is no timer: a `kill -9` loses only lines still being written. Durable against a process crash
 * (the kernel holds written pages); `close()` also fsyncs, for power loss at shutdown.
 */
export class Journal implements JournalSink {
  private queue: string[] = [];
  private writing: Promise<void> | null = null;
  private failed = false;
  private closed = false;
  private error: Error | null = null;
  private written = 0;
  private dropped = 0;

  private constructor(
    private readonly handle: FileHandle,
    private readonly maxQueuedLines: number,
  ) {}

  /** Opens (creating folders and file) for appending, first cutting a torn last line left by a crash. */
  static async open(options: JournalOptions): Promise<Journal> {
    await mkdir(dirname(options.file), { recursive: true });
    await cutTornTail(options.file);
    const handle = await open(options.file, 'a');
    return new Journal(handle, options.maxQueuedLines ?? 1_000_000);
  }

  get lastError(): Error | null {
    return this.error;
  }

  get stats(): JournalStats {
    return { written: this.written, queued: this.queue.length, dropped: this.dropped };
  }

  append(entry: { readonly at: number; readonly scopes: readonly string[]; readonly row: AmountRow }): void {
    if (this.closed) throw new Error('ledger journal is closed');
    this.queue.push(encodeRecord(entry.at, entry.scopes, entry.row));
    if (this.queue.length > this.maxQueuedLines) {
      this.queue.shift();
      this.dropped += 1;
    }
    if (!this.writing) this.writing = this.drain();
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.queue.length > 0) {
      this.writing = this.drain();
      await this.writing;
    }
    if (this.queue.length > 0 && this.error) throw this.error;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
      await this.handle.sync();
    } finally {
      this.closed = true;
      await this.handle.close();
    }
  }

  /** Writes batches until the queue is empty; on failure keeps the batch queued for the next append or flush. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        // After a failed write the file may end in a partial line: start on a fresh line (blank lines are ignored).
        const text = (this.failed ? '\n' : '') + batch.join('');
        try {
          await writeAll(this.handle, Buffer.from(text, 'utf8'));
        } catch (error) {
          this.failed = true;
          this.error = error instanceof Error ? error : new Error(String(error));
          this.queue = batch.concat(this.queue);
          return;
        }
        this.failed = false;
        this.error = null;
        this.written += batch.length;
      }
    } finally {
      this.writing = null;
    }
  }
}
