// The newest session-history entries of an agent, read backwards from the end of its files (no full scan for a recent page).
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isPlainAgentId } from '../auth/agent.ts';
import type { HistoryEntry } from '../history/entry.ts';
import { openGenerations } from '../history/generations.ts';
import { PageSelection } from '../history/page-select.ts';
import { parseHistoryLine } from '../history/reader.ts';

const BLOCK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

export interface NewestOptions {
  readonly dir: string;
  readonly agentId: string;
  /** Only entries with ts strictly before this instant; null = no bound. */
  readonly before: Date | null;
  readonly limit: number;
}

export interface NewestPage {
  /** The `limit` newest entries (by ts) before `before`, newest first, plus any further ones sharing the last one's ts. */
  readonly entries: HistoryEntry[];
  /** Non-blank lines that were not an entry (torn or bad), among those read. */
  readonly skippedLines: number;
  /** History files that exist but could not be read (read as absent). */
  readonly unreadableFiles: number;
}

/** The newest `limit` entries with ts before `before`, newest first, from the current file then the rotated one. */
export async function readNewestHistory(options: NewestOptions): Promise<HistoryEntry[]> {
  return (await readNewestHistoryPage(options)).entries;
}

/**
 * As readNewestHistory, with what was skipped. Entries are written in the order their calls were recorded, at
 * ts + latency_ms, so that sum never decreases going forward in the files (cllama lines carry no latency: their ts
 * is taken as it, as cllama's own reader assumes). Reading backwards, once the page holds `limit` entries and a line
 * was recorded before the page's oldest ts, no earlier line can belong on the page: the read stops there.
 */
export async function readNewestHistoryPage(options: NewestOptions): Promise<NewestPage> {
  if (!isPlainAgentId(options.agentId)) throw new Error('invalid agent id for history');
  let unreadableFiles = 0;
  let skippedLines = 0;
  const files = await openGenerations({ folder: join(options.dir, options.agentId), onUnreadable: () => (unreadableFiles += 1) });
  const beforeMs = options.before ? options.before.getTime() : Number.POSITIVE_INFINITY;
  const page = new PageSelection({ limit: options.limit, direction: 'newest_first' });
  try {
    read: for (const file of [files.current, files.rotated]) {
      if (!file) continue;
      for await (const line of linesBackward(file.handle)) {
        const entry = parseHistoryLine(line);
        if (!entry) {
          skippedLines += 1;
          continue;
        }
        const tsMs = Date.parse(entry.ts);
        const boundary = page.boundaryMs;
        if (boundary !== null && tsMs + recordedAfterMs(entry) < boundary) break read;
        if (tsMs < beforeMs) page.offer(entry, tsMs);
      }
    }
  } finally {
    await files.close();
  }
  return { entries: page.entries(), skippedLines, unreadableFiles };
}

/** How long after its ts an entry was recorded: its latency_ms when that is a usable number, else 0. */
function recordedAfterMs(entry: HistoryEntry): number {
  const latency = entry.latency_ms;
  return typeof latency === 'number' && Number.isFinite(latency) && latency > 0 ? latency : 0;
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
