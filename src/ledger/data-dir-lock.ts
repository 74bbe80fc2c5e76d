// One process per embedded ledger: a lock file in the data directory, kept fresh while held, taken over when stale.
import { mkdir, open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './journal/file.ts';

export const LOCK_FILE_NAME = 'tollgate.lock';

/** How often a held lock's mtime is refreshed, and the age after which another host may take it over. */
const HEARTBEAT_MS = 10_000;
const STALE_AFTER_MS = 60_000;
/** A lock file that does not parse is one being written, unless it is older than this. */
const UNREADABLE_STALE_MS = 5_000;

export interface DataDirLock {
  readonly file: string;
  release(): Promise<void>;
}

/** Another live process holds the directory: two embedded ledgers on one journal would overwrite each other's spend. */
export class DataDirLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirLockedError';
  }
}

interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly started_at: string;
}

interface LockOptions {
  readonly dir: string;
  readonly now?: () => number;
  /** For tests: who this process says it is. */
  readonly self?: { readonly pid: number; readonly host: string };
  readonly heartbeatMs?: number;
  readonly staleAfterMs?: number;
  /** Told when the held lock file went missing (re-created) or was taken over by another process. */
  readonly onWarning?: (message: string) => void;
}

/**
 * Takes the data directory's lock, or throws DataDirLockedError naming the holder. A lock is stale, and taken over,
 * when its holder on this host is no longer running (or is this very process, restarted in a container with the
 * same pid), or when a holder on another host (a shared volume) has not refreshed it for a minute.
 */
export async function lockDataDir(options: LockOptions): Promise<DataDirLock> {
  const file = join(options.dir, LOCK_FILE_NAME);
  const self = options.self ?? { pid: process.pid, host: hostname() };
  const now = options.now ?? Date.now;
  const me: Holder = { pid: self.pid, host: self.host, started_at: new Date(now()).toISOString() };
  await mkdir(options.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const keep = { file, me, heartbeatMs: options.heartbeatMs ?? HEARTBEAT_MS, onWarning: options.onWarning ?? (() => undefined) };
  if (await create(file, me)) return held(keep);
  const found = await readHolder(file);
  const staleAfterMs = options.staleAfterMs ?? STALE_AFTER_MS;
  if (found && !isStale({ found, self, now: now(), staleAfterMs })) throw lockedError({ dir: options.dir, found, staleAfterMs });
  await rm(file, { force: true });
  // a second comer racing for the same stale lock loses here, and is told who won
  if (await create(file, me)) return held(keep);
  const winner = await readHolder(file);
  throw lockedError({ dir: options.dir, found: winner ?? { holder: null, mtimeMs: now() }, staleAfterMs });
}

async function create(file: string, me: Holder): Promise<boolean> {
  try {
    const handle = await open(file, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(`${JSON.stringify(me)}\n`);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

interface Found {
  /** Null when the file does not parse (cut while being written). */
  readonly holder: Holder | null;
  readonly mtimeMs: number;
}

async function readHolder(file: string): Promise<Found | null> {
  try {
    const [text, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    return { holder: parseHolder(text), mtimeMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function parseHolder(text: string): Holder | null {
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    if (typeof value.pid !== 'number' || typeof value.host !== 'string' || typeof value.started_at !== 'string') return null;
    return { pid: value.pid, host: value.host, started_at: value.started_at };
  } catch {
    return null;
  }
}

function isStale(input: { found: Found; self: { pid: number; host: string }; now: number; staleAfterMs: number }): boolean {
  const { holder, mtimeMs } = input.found;
  if (!holder) return input.now - mtimeMs > Math.min(UNREADABLE_STALE_MS, input.staleAfterMs); // a write cut by a crash
  if (holder.host === input.self.host) return holder.pid === input.self.pid || !isRunning(holder.pid);
  return input.now - mtimeMs > input.staleAfterMs;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // running, as another user
  }
}

function lockedError(input: { dir: string; found: Found; staleAfterMs: number }): DataDirLockedError {
  const { holder } = input.found;
  const who = holder ? `tollgate pid ${holder.pid} on ${holder.host} (since ${holder.started_at})` : 'another tollgate (its lock file is being written)';
  return new DataDirLockedError(
    `the embedded ledger's data directory ${input.dir} is in use by ${who}. Two processes on one journal would ` +
      "overwrite each other's spend: give each its own TOLLGATE_DATA_DIR and CLAW_SESSION_HISTORY_DIR, or share budgets " +
      `with TOLLGATE_LEDGER=redis (docs/deploy.md). A lock left by a process on another host is taken over once it is ${Math.round(input.staleAfterMs / 1000)} s old.`,
  );
}

function held(input: { file: string; me: Holder; heartbeatMs: number; onWarning: (message: string) => void }): DataDirLock {
  const { file, me } = input;
  let beating = false;
  // refreshed off the request path; a failed refresh (the volume briefly gone) is retried on the next beat
  const heartbeat = setInterval(() => {
    if (beating) return;
    beating = true;
    refresh(input)
      .then((kept) => {
        if (!kept) clearInterval(heartbeat);
      })
      .catch(() => undefined)
      .finally(() => {
        beating = false;
      });
  }, input.heartbeatMs);
  heartbeat.unref();
  let released = false;
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      const found = await readHolder(file).catch(() => null);
      // only our own lock: one taken over by another process (after ours went stale) is theirs
      if (found?.holder && isMe(found.holder, me)) await rm(file, { force: true });
    },
  };
}

/**
 * One beat: our lock file is touched; one deleted by hand (or by a cleanup job) is written again, since the journal is
 * still ours; one another process took over (ours went stale, a host suspended past a minute) is left to it, said
 * loudly, and no longer refreshed. False when the lock is no longer ours.
 */
async function refresh(input: { file: string; me: Holder; onWarning: (message: string) => void }): Promise<boolean> {
  const { file, me } = input;
  let found = await readHolder(file);
  if (found === null) {
    if (await create(file, me)) {
      input.onWarning(`the data directory's lock file ${file} had been removed while this process holds the journal; written again`);
      return true;
    }
    found = await readHolder(file); // someone else created it in between: see whose it is
    if (found === null) return true; // removed again: the next beat writes it
  }
  if (found.holder === null || isMe(found.holder, me)) {
    const at = new Date();
    await utimes(file, at, at);
    return true;
  }
  const other = found.holder;
  input.onWarning(
    `the data directory's lock file ${file} was taken over by tollgate pid ${other.pid} on ${other.host} (since ${other.started_at}) ` +
      "while this process still writes its journal: two embedded ledgers on one journal overwrite each other's spend; stop one of them",
  );
  return false;
}

function isMe(holder: Holder, me: Holder): boolean {
  return holder.pid === me.pid && holder.host === me.host && holder.started_at === me.started_at;
}
