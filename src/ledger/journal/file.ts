// Low-level file work for the journal: fast line batches (several times faster than readline), full writes, atomic replace, tail repair.
import { writeSync } from 'node:fs';
import { open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The journal and the lock hold spend and who runs: readable by tollgate's user only (history files are too). */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** One read's worth of lines: line `i` is `buffer[starts[i], ends[i])`, without its line ending (empty lines too). */
export interface LineChunk {
  readonly buffer: Buffer;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  readonly count: number;
}

/**
 * Yields the file's lines one read chunk at a time, as offsets into the chunk (no object per line); a last line with no
 * newline is yielded too. Nothing is yielded when the file does not exist. A chunk is only valid until the next one is
 * requested: every read goes into the same buffer (a fresh one per read costs page faults and external-memory
 * collections, ~160 of them for a 1,000,000-record journal), the line a read cut first moved to its front.
 */
export async function* readLineChunks(file: string, chunkBytes = 1 << 20): AsyncGenerator<LineChunk> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  let buffer = Buffer.allocUnsafe(chunkBytes);
  /** Bytes at the buffer's front: the start of a line the last read cut. */
  let kept = 0;
  let starts: Int32Array<ArrayBuffer> = new Int32Array(4096);
  let ends: Int32Array<ArrayBuffer> = new Int32Array(4096);
  try {
    for (;;) {
      if (kept === buffer.length) {
        // a line longer than the buffer: twice the room
        const larger = Buffer.allocUnsafe(2 * buffer.length);
        buffer.copy(larger, 0, 0, kept);
        buffer = larger;
      }
      const { bytesRead } = await handle.read(buffer, kept, buffer.length - kept, null);
      if (bytesRead === 0) break;
      const filled = buffer.subarray(0, kept + bytesRead);
      let count = 0;
      let start = 0;
      for (let end = filled.indexOf(NEWLINE, kept); end >= 0; end = filled.indexOf(NEWLINE, start)) {
        if (count === starts.length) [starts, ends] = [grown(starts), grown(ends)];
        starts[count] = start;
        ends[count++] = end > start && filled[end - 1] === CARRIAGE_RETURN ? end - 1 : end;
        start = end + 1;
      }
      if (count > 0) yield { buffer: filled, starts, ends, count };
      kept = filled.length - start;
      if (kept > 0 && start > 0) buffer.copyWithin(0, start, filled.length);
    }
    if (kept > 0) {
      const rest = buffer.subarray(0, kept);
      yield { buffer: rest, starts: Int32Array.of(0), ends: Int32Array.of(withoutCarriageReturn(rest).length), count: 1 };
    }
  } finally {
    await handle.close();
  }
}

function grown(array: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const larger = new Int32Array(array.length * 2);
  larger.set(array);
  return larger;
}

/**
 * Yields the file's lines in batches (one batch per read chunk), without their line ending; a last line with no
 * newline is yielded too. Empty lines are kept (as empty views). Nothing is yielded when the file does not exist.
 * Views are only valid until the next batch is requested.
 */
export async function* readLineBatches(file: string, chunkBytes = 1 << 20): AsyncGenerator<Buffer[]> {
  for await (const { buffer, starts, ends, count } of readLineChunks(file, chunkBytes)) {
    const lines: Buffer[] = new Array(count);
    for (let i = 0; i < count; i++) lines[i] = buffer.subarray(starts[i], ends[i]);
    yield lines;
  }
}

function withoutCarriageReturn(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === CARRIAGE_RETURN ? line.subarray(0, line.length - 1) : line;
}

/** Writes the whole buffer at the current position (a single write may be short). */
export async function writeAll(handle: FileHandle, buffer: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    let bytesWritten: number;
    try {
      ({ bytesWritten } = await handle.write(buffer, offset, buffer.length - offset));
    } catch (error) {
      throw Object.assign(error instanceof Error ? error : new Error(String(error)), { bytesWritten: offset });
    }
    offset += bytesWritten;
  }
}

/** write(2) in fs.writeSync's shape: bytes from `buffer` at the file's position; how many it took. */
export type WriteBytes = (fd: number, buffer: Buffer, offset: number, length: number) => number;

/**
 * Appends the whole buffer with write(2) on the calling thread (a failure carries `bytesWritten`, like writeAll's). A
 * small append lands in the page cache in microseconds, where a thread-pool write pays a futex wake-up, a completion
 * event and a promise each time: ~0.8× the proxy's CPU per governed call with these appends synchronous
 * (bench/README.md). What pino's destination does for the audit log, for the same reason.
 */
export function appendAllSync(fd: number, buffer: Buffer, write: WriteBytes = writeSync): void {
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += write(fd, buffer, offset, buffer.length - offset);
    } catch (error) {
      throw Object.assign(error instanceof Error ? error : new Error(String(error)), { bytesWritten: offset });
    }
  }
}

/** How many bytes of its buffer a failed writeAll or appendAllSync had written (0 when unknown). */
export function bytesWrittenBefore(error: unknown): number {
  const written = (error as { bytesWritten?: unknown } | null)?.bytesWritten;
  return typeof written === 'number' && written > 0 ? written : 0;
}

/** If the file does not end with a newline (a write cut by a crash), truncates it after its last complete line. */
export async function cutTornTail(file: string): Promise<number> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return 0;
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const newline = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (newline >= 0) {
        const keep = start + newline + 1;
        if (keep < size) await handle.truncate(keep);
        return size - keep;
      }
      end = start;
    }
    await handle.truncate(0);
    return size;
  } finally {
    await handle.close();
  }
}

/** fsyncs a directory so a rename inside it survives power loss (best effort where unsupported). */
export async function syncDirectory(directory: string): Promise<void> {
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

/**
 * Replaces `file` with what `write` puts into a fresh temp file beside it: fsync, rename, fsync of the directory. If
 * `write` fails, the temp file is removed and `file` is left as it was.
 */
export async function replaceFile(file: string, write: (handle: FileHandle) => Promise<void>): Promise<void> {
  const temp = `${file}.rewrite-${process.pid}.tmp`;
  const handle = await open(temp, 'w', PRIVATE_FILE_MODE);
  try {
    await write(handle);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, file);
  await syncDirectory(dirname(file));
}

/**
 * Removes temp files a rewrite of `file` left behind when its process died part-way (`<name>.rewrite-<pid>.tmp`, and
 * `<name>.compact-<pid>.tmp` of older versions). Only for start-up, before this process rewrites anything.
 */
export async function removeStaleRewrites(file: string): Promise<string[]> {
  const prefix = `${basename(file)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(file));
  } catch {
    return [];
  }
  const stale = names.filter((name) => name.startsWith(prefix) && name.endsWith('.tmp') && /\.(rewrite|compact)-\d+\.tmp$/.test(name));
  await Promise.all(stale.map((name) => rm(join(dirname(file), name), { force: true })));
  return stale;
}
