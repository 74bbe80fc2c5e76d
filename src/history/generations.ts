// Opens an agent's two history files (rotated, current) as one consistent snapshot, even while the writer rotates.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HISTORY_FILE, ROTATED_HISTORY_FILE } from './writer.ts';

export interface OpenHistoryFile {
  readonly handle: FileHandle;
  readonly path: string;
}

/** A history file that exists but cannot be read as one (a directory in its place, no permission, ...). */
export interface UnreadableHistoryFile {
  readonly file: string;
  readonly error: string;
}

export interface HistoryGenerations {
  /** history.jsonl.1, or null when there is none. */
  readonly rotated: OpenHistoryFile | null;
  /** history.jsonl, or null when there is none. */
  readonly current: OpenHistoryFile | null;
  close(): Promise<void>;
}

export interface OpenGenerationsOptions {
  /** `<history dir>/<agent id>`, built from a checked id. */
  readonly folder: string;
  /** Given: an unreadable file is reported here and read as absent. Not given: it is an error (thrown). */
  readonly onUnreadable?: (unreadable: UnreadableHistoryFile) => void;
}

const ATTEMPTS = 8;

/**
 * Opens history.jsonl.1, then history.jsonl, then checks that the rotated name still holds the file opened first.
 * A rotation between the two opens (the current file renamed over the rotated one) would otherwise give the old
 * rotated file plus the new current one, losing the generation in between (or, in the other order, one file twice):
 * that case is detected and the pair reopened; a writer that rotates on every one of ATTEMPTS tries (a tiny cap under
 * load) leaves the current file alone, read without the rotated one. A rotation after the check is harmless: the open
 * handles keep reading the files they opened.
 */
export async function openGenerations(options: OpenGenerationsOptions): Promise<HistoryGenerations> {
  const rotatedPath = join(options.folder, ROTATED_HISTORY_FILE);
  const currentPath = join(options.folder, HISTORY_FILE);
  for (let attempt = 1; ; attempt++) {
    const rotated = await openRegular(rotatedPath, options.onUnreadable !== undefined);
    let current: Attempt | null = null;
    try {
      current = await openRegular(currentPath, options.onUnreadable !== undefined);
      const consistent = await sameIdentity(rotatedPath, rotated.identity);
      if (consistent || attempt >= ATTEMPTS) {
        for (const problem of [rotated.problem, current.problem]) if (problem) options.onUnreadable?.(problem);
        if (consistent) return generations(rotated.file, current.file);
        // still rotating on every attempt: the current file alone is a consistent, shorter snapshot (never a gap)
        await closeQuietly(rotated.file);
        return generations(null, current.file);
      }
    } catch (error) {
      await closeQuietly(rotated.file);
      throw error;
    }
    await closeQuietly(rotated.file);
    await closeQuietly(current.file);
  }
}

interface Identity {
  readonly ino: number;
  readonly dev: number;
}

/** One open attempt: the file when readable, what the name pointed at (null: nothing), what was wrong with it. */
interface Attempt {
  readonly file: OpenHistoryFile | null;
  readonly identity: Identity | null;
  readonly problem?: UnreadableHistoryFile;
}

function generations(rotated: OpenHistoryFile | null, current: OpenHistoryFile | null): HistoryGenerations {
  return {
    rotated,
    current,
    close: async () => {
      await closeQuietly(rotated);
      await closeQuietly(current);
    },
  };
}

/** Opens a regular file for reading. Missing: nothing. Unreadable: thrown, or (tolerant) described and read as absent. */
async function openRegular(path: string, tolerant: boolean): Promise<Attempt> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { file: null, identity: null };
    if (!tolerant) throw error;
    return { file: null, identity: await identityOf(path), problem: { file: path, error: (error as Error).message } };
  }
  let stats;
  try {
    stats = await handle.stat();
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  const identity = { ino: stats.ino, dev: stats.dev };
  if (stats.isFile()) return { file: { handle, path }, identity };
  await handle.close().catch(() => undefined);
  const problem = { file: path, error: `${path} is not a regular file` };
  if (!tolerant) throw new Error(problem.error);
  return { file: null, identity, problem };
}

async function identityOf(path: string): Promise<Identity | null> {
  try {
    const stats = await stat(path);
    return { ino: stats.ino, dev: stats.dev };
  } catch {
    return null;
  }
}

/** The path still names what it named when it was opened (nothing, if it named nothing). */
async function sameIdentity(path: string, before: Identity | null): Promise<boolean> {
  const now = await identityOf(path);
  return now === null || before === null ? now === before : now.ino === before.ino && now.dev === before.dev;
}

async function closeQuietly(file: OpenHistoryFile | null): Promise<void> {
  await file?.handle.close().catch(() => undefined);
}
