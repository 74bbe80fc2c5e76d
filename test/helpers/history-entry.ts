// Waits for one call's session history entry, reading the file as the writer appends to it (a line may be half written).
import type { Harness } from './harness.ts';
import { waitFor } from './wait.ts';

type Entry = Record<string, unknown>;

/** The first entry of `agent` that `matches`, once written; a line still being written is skipped, not parsed. */
export async function historyEntry<T extends object = Entry>(h: Harness, agent: string, matches: (entry: Entry) => boolean): Promise<T> {
  let found: Entry | undefined;
  await waitFor(() => {
    for (const line of h.historyText(agent).split('\n')) {
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as Entry;
        if (matches(entry)) {
          found = entry;
          return true;
        }
      } catch {
        // the line the writer is appending right now
      }
    }
    return false;
  }, `history entry of ${agent}`);
  return found as T;
}
