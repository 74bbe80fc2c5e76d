// The newest session-history entries of an agent, read backwards from the end of its files (no full scan for a recent page).
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isPlainAgentId } from '../auth/agent.ts';
import type { HistoryEntry } from '../history/entry.ts';
import { parseHistoryLine } from '../history/reader.ts';
import { HISTORY_FILE, ROTATED_HISTORY_FILE } from '../history/writer.ts';

const BLOCK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

export interface NewestOptions {
  readonly dir: string;
  readonly agentId: string;
  /** Only entries with ts strictly before this instant; null = no bound. */
  readonly before: Date | null;
  readonly limit: number;
}

/** The newest `limit` entries with ts before `before`, newest first, from the current file then the rotated one. */
export async function readNewestHistory(options: NewestOptions): Promise<HistoryEntry[]> {
  if (!isPlainAgentId(options.agentId)) throw new Error('invalid agent id for history');
  const folder = join(options.dir, options.agentId);
  // Open both before reading either, so a rotation in between still yields one consistent sequence.
  const current = await openIfExists(join(folder, HISTORY_FILE));
  const rotated = await openIfExists(join(folder, ROTATED_HISTORY_FILE)).catch(async (error: unknown) => {
    await current?.close();
    throw error;
  });
  const beforeMs = options.before ? options.before.getTime() : Number.POSITIVE_INFINITY;
  const found: HistoryEntry[] = [];
  try {
    for (const handle of [current, rotated]) {
      if (!handle) continue;
      for await (const line of linesBackward(handle)) {
        const entry = parseHistoryLine(line);
        if (!entry || !(Date.parse(entry.ts) < beforeMs)) continue;
        found.push(entry);
        if (found.length >= options.limit) return found;
      }
    }
    return found;
  } finally {
    await current?.close().catch(() => undefined);
    await rotated?.close().catch(() => undefined);
  }
}

/** Non-blank lines of a file, last first, read in blocks from the end; bytes are decoded per whole line. */
export async function* linesBackward(handle: FileHandle): AsyncGenerator<string> {
  let position = (await handle.stat()).size;
  /** Bytes after the last newline seen, in file order, not yet a whole line. */
  let tail: Buffer[] = [];
  while (position > 0) {
    const size = Math.min(BLOCK_BYTES, position);
    position -= size;
    const block = Buffer.alloc(size);
    await readFully(handle, block, position);
    let end = block.length;
    for (let index = block.length - 1; index >= 0; index--) {
      if (block[index] !== NEWLINE) continue;
      const line = decodeLine([block.subarray(index + 1, end), ...tail]);
      tail = [];
      end = index;
      if (line !== null) yield line;
    }
    tail = [block.subarray(0, end), ...tail];
  }
  const first = decodeLine(tail);
  if (first !== null) yield first;
}

function decodeLine(parts: Buffer[]): string | null {
  const text = (parts.length === 1 ? parts[0] : Buffer.concat(parts)).toString('utf8');
  return text.trim() === '' ? null : text;
}

async function readFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesRead } = await handle.read(buffer, offset, buffer.length - offset, position + offset);
    if (bytesRead === 0) throw new Error('history file shrank while being read');
    offset += bytesRead;
  }
}

async function openIfExists(path: string): Promise<FileHandle | null> {
  try {
    return await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
