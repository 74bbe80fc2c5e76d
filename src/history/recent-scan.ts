// The history of the agents whose files were written since a time (by mtime), entry by entry: what start-up reconciliation reads.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { HistoryEntry } from './entry.ts';
import { listHistoryAgents, scanHistory } from './reader.ts';
import { HISTORY_FILE, ROTATED_HISTORY_FILE } from './writer.ts';

/** File times can be coarse (a few filesystems keep seconds): a file this much older than `since` is still read. */
const MTIME_SLACK_MS = 5_000;

/**
 * Entries of every agent whose history.jsonl or history.jsonl.1 was modified at or after `since` (files untouched since
 * cannot hold an entry that ended after it). Lines that are not entries, and files that cannot be read, are counted
 * through `onSkippedLine` and skipped.
 */
export async function* scanHistorySince(options: {
  readonly dir: string;
  readonly since: number;
  readonly onSkippedLine?: () => void;
}): AsyncGenerator<HistoryEntry> {
  const skipped = options.onSkippedLine ?? (() => undefined);
  for (const agentId of await listHistoryAgents(options.dir)) {
    const folder = join(options.dir, agentId);
    if (!(await writtenSince(join(folder, HISTORY_FILE), options.since)) && !(await writtenSince(join(folder, ROTATED_HISTORY_FILE), options.since))) continue;
    yield* scanHistory({ dir: options.dir, agentId, onBadLine: skipped, onUnreadableFile: skipped });
  }
}

async function writtenSince(file: string, since: number): Promise<boolean> {
  try {
    return (await stat(file)).mtimeMs >= since - MTIME_SLACK_MS;
  } catch {
    return false;
  }
}
