// Reads session history off the request path: paged reads for the history API, streaming scans for rebuilds.
import { readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { isPlainAgentId } from '../auth/agent.ts';
import { HISTORY_LINE_MAX_DEPTH, jsonDeeperThan } from '../protocol/json-depth.ts';
import { historyIdFromRawLine, type HistoryEntry } from './entry.ts';
import { openGenerations } from './generations.ts';
import { PageSelection } from './page-select.ts';
import { HISTORY_FILE, ROTATED_HISTORY_FILE } from './writer.ts';

export const DEFAULT_HISTORY_LIMIT = 100;
export const MAX_HISTORY_LIMIT = 1000;

export interface ReadHistoryOptions {
  readonly dir: string;
  readonly agentId: string;
  /** Only entries with ts strictly after this instant. */
  readonly after?: Date | null;
  /** Default 100; ≤ 0 or not a number → 100; > 1000 → 1000 (as cllama). */
  readonly limit?: number;
}

export interface HistoryReadResult {
  /**
   * The `limit` entries with the smallest ts after `after`, by ts (file order among equal ts), plus any further ones
   * sharing the last one's ts (a page never splits a group of equal ts, so paging with its last ts skips nothing).
   */
  readonly entries: HistoryEntry[];
  /** Unparsable lines (or lines without a valid ts) that were not the last line of their file. */
  readonly skippedLines: number;
  /** Unparsable last lines (a write torn by a crash, or one still in progress): expected, tolerated. */
  readonly tornLines: number;
  /** History files that exist but could not be read (a directory in their place, no permission): read as absent. */
  readonly unreadableFiles: number;
}

export interface UnreadableHistoryFileReport {
  readonly agentId: string;
  readonly file: string;
  readonly error: string;
}

export interface BadHistoryLine {
  readonly agentId: string;
  readonly file: string;
  /** 1-based line number in that file. */
  readonly line: number;
  /** True when it was the last line of its file (a torn write), false for a bad line in the middle. */
  readonly torn: boolean;
}

export interface ScanHistoryOptions {
  readonly dir: string;
  /** One agent, or every agent folder (plain agent ids only) when omitted. */
  readonly agentId?: string;
  readonly onBadLine?: (bad: BadHistoryLine) => void;
  /** Given: a history file that cannot be read is reported here and skipped. Not given: the scan fails on it. */
  readonly onUnreadableFile?: (unreadable: UnreadableHistoryFileReport) => void;
}

export function clampHistoryLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit) || limit <= 0) return DEFAULT_HISTORY_LIMIT;
  return Math.min(Math.floor(limit), MAX_HISTORY_LIMIT) || DEFAULT_HISTORY_LIMIT;
}

/** The oldest `limit` entries of one agent with ts strictly after `after`, spanning the rotated file then the current. */
export async function readHistory(options: ReadHistoryOptions): Promise<HistoryEntry[]> {
  return (await readHistoryPage(options)).entries;
}

/**
 * As readHistory, with counts of the bad and torn lines and unreadable files met on the way. Reads both files whole:
 * file order is not ts order (see page-select.ts), so no position lets the scan stop early.
 */
export async function readHistoryPage(options: ReadHistoryOptions): Promise<HistoryReadResult> {
  const afterMs = options.after ? options.after.getTime() : Number.NEGATIVE_INFINITY;
  const page = new PageSelection({ limit: clampHistoryLimit(options.limit), direction: 'oldest_first' });
  let skippedLines = 0;
  let tornLines = 0;
  let unreadableFiles = 0;
  const onBadLine = (bad: BadHistoryLine): void => {
    if (bad.torn) tornLines += 1;
    else skippedLines += 1;
  };
  const onUnreadableFile = (): void => {
    unreadableFiles += 1;
  };
  for await (const entry of scanHistory({ dir: options.dir, agentId: options.agentId, onBadLine, onUnreadableFile })) {
    const tsMs = Date.parse(entry.ts);
    if (tsMs > afterMs) page.offer(entry, tsMs);
  }
  return { entries: page.entries(), skippedLines, tornLines, unreadableFiles };
}

/** Streams every entry, line by line with bounded memory: one agent (rotated file first), or all agents by name. */
export async function* scanHistory(options: ScanHistoryOptions): AsyncGenerator<HistoryEntry> {
  const agentIds = options.agentId !== undefined ? [requirePlainAgentId(options.agentId)] : await listHistoryAgents(options.dir);
  for (const agentId of agentIds) {
    yield* scanAgent({ dir: options.dir, agentId, onBadLine: options.onBadLine, onUnreadableFile: options.onUnreadableFile });
  }
}

/** Agent folders under `dir` that hold a history file, by name; folders that are not plain agent ids are ignored. */
export async function listHistoryAgents(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  const agents: string[] = [];
  for (const name of names.filter(isPlainAgentId).sort()) {
    if ((await isFile(join(dir, name, HISTORY_FILE))) || (await isFile(join(dir, name, ROTATED_HISTORY_FILE)))) {
      agents.push(name);
    }
  }
  return agents;
}

async function* scanAgent(options: ScanHistoryOptions & { readonly agentId: string }): AsyncGenerator<HistoryEntry> {
  const { agentId, onBadLine, onUnreadableFile } = options;
  // Both files opened as one snapshot before either is read (a rotation in between is detected and reopened).
  const files = await openGenerations({
    folder: join(options.dir, agentId),
    onUnreadable: onUnreadableFile && ((unreadable) => onUnreadableFile({ agentId, ...unreadable })),
  });
  try {
    for (const file of [files.rotated, files.current]) {
      if (file) yield* scanFile({ ...file, agentId, onBadLine });
    }
  } finally {
    await files.close();
  }
}

async function* scanFile(options: {
  handle: FileHandle;
  path: string;
  agentId: string;
  onBadLine?: (bad: BadHistoryLine) => void;
}): AsyncGenerator<HistoryEntry> {
  const stream = options.handle.createReadStream({ encoding: 'utf8', autoClose: false, start: 0 });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNumber = 0;
  /** A bad line is only known to be the torn last line once the file ends without another line. */
  let pendingBadLine = 0;
  const report = (line: number, torn: boolean): void => {
    options.onBadLine?.({ agentId: options.agentId, file: options.path, line, torn });
  };
  try {
    for await (const raw of lines) {
      lineNumber += 1;
      if (raw.trim() === '') continue;
      if (pendingBadLine) {
        report(pendingBadLine, false);
        pendingBadLine = 0;
      }
      const entry = parseHistoryLine(raw);
      if (entry) yield entry;
      else pendingBadLine = lineNumber;
    }
    if (pendingBadLine) report(pendingBadLine, true);
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** One line → entry, or null when it is not a JSON object with a parsable ts (or nests past HISTORY_LINE_MAX_DEPTH). A missing id is hydrated as cllama does. */
export function parseHistoryLine(raw: string): HistoryEntry | null {
  // a line nested deeper than any reader (JSON.stringify, when it is served) survives is skipped like a torn one
  if (jsonDeeperThan(raw, HISTORY_LINE_MAX_DEPTH)) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  if (typeof record.ts !== 'string' || Number.isNaN(Date.parse(record.ts))) return null;
  if (typeof record.id === 'string' && record.id !== '') return record as unknown as HistoryEntry;
  const { version, id: _missing, ...rest } = record;
  return { version, id: historyIdFromRawLine(raw), ...rest } as unknown as HistoryEntry;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function requirePlainAgentId(agentId: string): string {
  if (!isPlainAgentId(agentId)) throw new Error('invalid agent id for history');
  return agentId;
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}
