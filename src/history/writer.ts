// Append-only per-agent history.jsonl writer: never blocks the caller, strictly ordered per agent, cllama rotation.
//
// A batch is appended with write(2) on this thread (the journal's appendAllSync): a page-cache append of a few lines
// costs microseconds, where a thread-pool write paid a futex wake-up, a completion event and a promise per batch.
//
// Layout: <dir>/<claw_id>/history.jsonl (+ history.jsonl.1 after rotation), as cllama writes it.
// Unlike cllama we do not maintain history.index.json: our budget windows come from the ledger journal, not from
// scanning history per request, and the reader is only used off the request path (admin API, history endpoints,
// rebuilds), where a sequential scan is fine. A stale cllama index left in the folder is simply ignored.
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isPlainAgentId } from '../auth/agent.ts';
import { appendAllSync, type WriteBytes } from '../ledger/journal/file.ts';
import { AppendHandles } from './append-handles.ts';
import { historyLine, serializeHistoryEntry, type HistoryEntry, type HistoryRecord } from './entry.ts';

export const HISTORY_FILE = 'history.jsonl';
export const ROTATED_HISTORY_FILE = 'history.jsonl.1';

/** How long after a failed rotation the next one is tried. */
const ROTATION_RETRY_MS = 60_000;
const DEFAULT_MAX_OPEN_FILES = 256;
const DEFAULT_IDLE_MS = 10_000;

export interface HistoryWriterOptions {
  readonly dir: string;
  /** Rotation cap per file (CLLAMA_SESSION_HISTORY_MAX_BYTES). */
  readonly maxBytes: number;
  /**
   * fdatasync after every batch. Off (default): a completed write sits in the OS page cache, which survives a crash
   * or kill -9 of tollgate but not a power loss or kernel panic. On: survives those too, at the cost of one disk
   * flush per batch (batching amortises it under load, but a lone call on a slow disk pays milliseconds, off the
   * response path).
   */
  readonly fsync?: boolean;
  /** Called for refused entries and failed writes (the entries of a failed batch are lost, never retried). */
  readonly onError?: (err: Error, agentId: string) => void;
  /**
   * Most history files open at once (default 256): past it the least recently written one is closed, and reopened
   * when its agent writes again. A fleet larger than the process's open-file limit would otherwise hit EMFILE, which
   * fails history appends and the servers' accept() alike.
   */
  readonly maxOpenFiles?: number;
  /**
   * A file not written for this long is closed, and an agent with nothing queued for this long is forgotten (default
   * 10 s), so an agent that stopped calling (deleted, say) holds neither a file nor memory.
   */
  readonly idleMs?: number;
  /** Clock for idleness (tests). */
  readonly now?: () => number;
  /** How a batch reaches its file (default fs.writeSync, on this thread); tests put a failing disk here. */
  readonly writeBytes?: WriteBytes;
}

interface FlushWaiter {
  readonly target: number;
  readonly resolve: () => void;
}

/** One agent's write chain: a queue, at most one batch in flight; its file handle is held by AppendHandles. */
interface AgentLog {
  readonly agentId: string;
  readonly folder: string;
  readonly file: string;
  readonly rotatedFile: string;
  queue: string[];
  /** Entries accepted so far. */
  appended: number;
  /** Entries written (or given up on after an error) so far. */
  settled: number;
  waiters: FlushWaiter[];
  running: boolean;
  /** Waiting in the writer's list of logs to drain at the end of this turn of the event loop. */
  due: boolean;
  /** When it last had something to write (ms, the writer's clock): idle long enough, it is forgotten. */
  lastActive: number;
  /** Size of the file as written so far, read again each time the file is opened. */
  size: number;
  /** The file ends in a torn line (crash mid-write): start the next write on a fresh line. */
  needsNewline: boolean;
  /** After a failed rotation: no new attempt before this time (ms since epoch); lines go on past the cap meanwhile. */
  rotationRetryAt: number;
}

export class HistoryWriter {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #fsync: boolean;
  readonly #onError: (err: Error, agentId: string) => void;
  readonly #now: () => number;
  readonly #idleMs: number;
  readonly #writeBytes: WriteBytes | undefined;
  /** Agents with something queued or written within the idle time; the others are forgotten by the idle sweep. */
  readonly #logs = new Map<string, AgentLog>();
  readonly #handles: AppendHandles;
  readonly #sweepTimer: NodeJS.Timeout;
  #closed = false;
  /** Logs with lines queued in this turn of the event loop: drained together once it ends (#drainDue). */
  #due: AgentLog[] = [];

  constructor(options: HistoryWriterOptions) {
    if (!(options.maxBytes > 0)) throw new RangeError('history maxBytes must be > 0');
    if (options.idleMs !== undefined && !(options.idleMs > 0)) throw new RangeError('history idleMs must be > 0');
    this.#dir = options.dir;
    this.#maxBytes = options.maxBytes;
    this.#fsync = options.fsync ?? false;
    this.#onError = options.onError ?? defaultOnError;
    this.#now = options.now ?? Date.now;
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.#writeBytes = options.writeBytes;
    this.#handles = new AppendHandles({
      max: options.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES,
      now: this.#now,
      onCloseError: (error, agentId) => this.#report(asError(error), agentId),
    });
    this.#sweepTimer = setInterval(() => void this.closeIdle(), this.#idleMs);
    this.#sweepTimer.unref();
  }

  /** Queues the entry and returns at once; the write happens in the agent's chain, in call order. */
  append(entry: HistoryEntry): void {
    this.#appendBuilt(entry.claw_id, serializeHistoryEntry, entry);
  }

  /**
   * Queues the entry of one finished call (its line built from the texts it carries). Resolves once it is written
   * (or its write failed, reported through onError): a call's answer ends only after that (pipeline/settle.ts).
   */
  record(record: HistoryRecord): Promise<void> {
    const log = this.#appendBuilt(record.agentId, historyLine, record);
    if (!log) return Promise.resolve();
    const target = log.appended;
    return new Promise((resolve) => log.waiters.push({ target, resolve }));
  }

  /** Queues one serialised entry (no newline) of `agentId`'s history; same order and error rules as append. */
  appendLine(agentId: string, line: string): void {
    this.#queueLine(agentId, line);
  }

  /** Queues the line in the agent's chain; null (reported) when it is refused. */
  #queueLine(agentId: string, line: string): AgentLog | null {
    if (this.#closed) {
      this.#report(new Error('history writer is closed; entry dropped'), agentId);
      return null;
    }
    if (typeof agentId !== 'string' || !isPlainAgentId(agentId)) {
      this.#report(new Error('history entry refused: claw_id is not a plain agent id'), String(agentId));
      return null;
    }
    const log = this.#logFor(agentId);
    log.queue.push(line + '\n');
    log.appended += 1;
    log.lastActive = this.#now();
    if (!log.running && !log.due) this.#scheduleDrain(log);
    return log;
  }

  /** Builds the line (a failure is reported, not thrown) and queues it. */
  #appendBuilt<T>(agentId: string, toLine: (input: T) => string, input: T): AgentLog | null {
    let line: string;
    try {
      line = toLine(input);
    } catch (err) {
      this.#report(asError(err), String(agentId));
      return null;
    }
    return this.#queueLine(agentId, line);
  }

  /** Resolves when every entry appended before this call has been written (or reported through onError). */
  flush(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const log of this.#logs.values()) {
      if (log.settled < log.appended) {
        const target = log.appended;
        waits.push(new Promise((resolve) => log.waiters.push({ target, resolve })));
      }
    }
    return Promise.all(waits).then(() => undefined);
  }

  /** Flushes, then closes every file handle. Appends after this are refused through onError. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    await this.flush();
    await this.#handles.closeAll();
  }

  /**
   * Closes the files not written for `idleMs` and forgets the agents with nothing queued for as long (what the idle
   * timer runs). A forgotten agent's next entry starts a fresh chain: the file is reopened and its size and last byte
   * read again, so order, rotation and torn-line handling hold as before.
   */
  async closeIdle(): Promise<void> {
    const before = this.#now() - this.#idleMs;
    await this.#handles.closeIdle(before);
    const now = this.#now();
    for (const [agentId, log] of this.#logs) {
      const idle = !log.running && !log.due && log.queue.length === 0 && log.waiters.length === 0 && log.settled === log.appended;
      if (idle && log.lastActive <= before && log.rotationRetryAt <= now && !this.#handles.has(agentId)) this.#logs.delete(agentId);
    }
  }

  /** History files open now (at most maxOpenFiles). */
  get openFiles(): number {
    return this.#handles.openCount;
  }

  /** Agents whose write state is held now (those active within the idle time). */
  get agentsHeld(): number {
    return this.#logs.size;
  }

  /** Entries accepted but not yet written, across all agents (for metrics). */
  get pendingEntries(): number {
    let pending = 0;
    for (const log of this.#logs.values()) pending += log.appended - log.settled;
    return pending;
  }

  #logFor(agentId: string): AgentLog {
    let log = this.#logs.get(agentId);
    if (!log) {
      const folder = join(this.#dir, agentId);
      log = {
        agentId,
        folder,
        file: join(folder, HISTORY_FILE),
        rotatedFile: join(folder, ROTATED_HISTORY_FILE),
        queue: [],
        appended: 0,
        settled: 0,
        waiters: [],
        running: false,
        due: false,
        lastActive: this.#now(),
        size: 0,
        needsNewline: false,
        rotationRetryAt: 0,
      };
      this.#logs.set(agentId, log);
    }
    return log;
  }

  /**
   * Calls finish one per socket read, each in its own callback; their lines are written once the event loop's poll
   * phase is over (setImmediate), so the calls that finished in one turn cost one write(2) per agent, not one each.
   */
  #scheduleDrain(log: AgentLog): void {
    log.due = true;
    if (this.#due.push(log) === 1) setImmediate(this.#drainDue);
  }

  readonly #drainDue = (): void => {
    const due = this.#due;
    this.#due = [];
    for (const log of due) {
      log.due = false;
      if (!log.running) void this.#drain(log);
    }
  };

  /** Writes whatever is queued as one batch, repeatedly, until the queue is empty. Never rejects. */
  async #drain(log: AgentLog): Promise<void> {
    log.running = true;
    try {
      while (log.queue.length > 0) {
        const batch = log.queue;
        log.queue = [];
        try {
          await this.#writeBatch(log, batch);
        } catch (err) {
          this.#report(new Error(`history write failed, ${batch.length} entries lost: ${asError(err).message}`), log.agentId);
          await this.#handles.close(log.agentId);
        }
        log.settled += batch.length;
        log.lastActive = this.#now();
        this.#wakeFlushers(log);
      }
    } finally {
      log.running = false;
    }
  }

  /**
   * Rotation is decided per line, exactly as cllama: size > 0 and size + line > maxBytes → rotate first. The file's
   * handle is taken for the batch (opened if it was closed) and given back after it, idle and closable again.
   */
  async #writeBatch(log: AgentLog, lines: string[]): Promise<void> {
    try {
      let handle = await this.#takeHandle(log);
      let chunk: string[] = [];
      let chunkBytes = 0;
      for (const line of lines) {
        const lineBytes = Buffer.byteLength(line);
        const sizeBefore = log.size + chunkBytes;
        if (sizeBefore > 0 && sizeBefore + lineBytes > this.#maxBytes && log.rotationRetryAt <= this.#now()) {
          if (chunk.length > 0) this.#write(log, handle, chunk.join(''));
          chunk = [];
          chunkBytes = 0;
          handle = await this.#rotate(log, handle);
        }
        chunk.push(line);
        chunkBytes += lineBytes;
      }
      if (chunk.length > 0) this.#write(log, handle, chunk.join(''));
      if (this.#fsync) await handle.datasync();
    } finally {
      this.#handles.done(log.agentId);
    }
  }

  #write(log: AgentLog, handle: FileHandle, text: string): void {
    const buffer = Buffer.from(log.needsNewline ? '\n' + text : text);
    appendAllSync(handle.fd, buffer, this.#writeBytes); // a failure closes the file: reopened, its size and torn tail are read again
    log.size += buffer.length;
    log.needsNewline = false;
  }

  #takeHandle(log: AgentLog): Promise<FileHandle> {
    return this.#handles.take(log.agentId, () => this.#open(log));
  }

  /** Opens the agent's file for appending and reads where it stands: its size, and whether it ends in a torn line. */
  async #open(log: AgentLog): Promise<FileHandle> {
    // Files hold prompts and responses: owner-only (cllama leaves 0777/0666 to the umask).
    await mkdir(log.folder, { recursive: true, mode: 0o700 });
    const handle = await open(log.file, 'a+', 0o600);
    try {
      const { size } = await handle.stat();
      log.size = size;
      log.needsNewline = size > 0 && !(await endsWithNewline(handle, size));
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    return handle;
  }

  /**
   * One generation only: history.jsonl replaces history.jsonl.1 (rename is atomic and replaces the target). When the
   * rename fails (a directory where history.jsonl.1 should be, ...), entries are not dropped: they go on into the
   * current file past the cap, the failure is reported, and rotation is tried again a minute later.
   */
  async #rotate(log: AgentLog, handle: FileHandle): Promise<FileHandle> {
    if (this.#fsync) await handle.datasync();
    await this.#handles.close(log.agentId);
    try {
      await rename(log.file, log.rotatedFile);
    } catch (err) {
      log.rotationRetryAt = this.#now() + ROTATION_RETRY_MS;
      this.#report(new Error(`history rotation failed, writing on past the cap: ${asError(err).message}`), log.agentId);
    }
    return this.#takeHandle(log);
  }

  #wakeFlushers(log: AgentLog): void {
    const waiting: FlushWaiter[] = [];
    for (const waiter of log.waiters) {
      if (waiter.target <= log.settled) waiter.resolve();
      else waiting.push(waiter);
    }
    log.waiters = waiting;
  }

  #report(err: Error, agentId: string): void {
    try {
      this.#onError(err, agentId);
    } catch {
      // an error handler's failure must not break the write chain
    }
  }
}

async function endsWithNewline(handle: FileHandle, size: number): Promise<boolean> {
  const last = Buffer.alloc(1);
  const { bytesRead } = await handle.read(last, 0, 1, size - 1);
  return bytesRead === 1 && last[0] === 0x0a;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function defaultOnError(err: Error, agentId: string): void {
  process.emitWarning(`session history (${agentId}): ${err.message}`, 'TollgateHistoryWarning');
}
