// The entries of a context root the agent registry takes (src/auth/registry.ts: same filter, symlinked directories included), for `tollgate validate`.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { contextEntryKind } from '../auth/agent.ts';
import { agentFingerprint } from '../auth/agent-loader.ts';

export interface AgentDirEntry {
  readonly id: string;
  readonly dir: string;
  /** The registry loads it: a metadata.json is there (symlinks followed), or something it will report as unreadable. */
  readonly loads: boolean;
  /** A directory, or a symlink to one. */
  readonly isDirectory: boolean;
}

export interface AgentDirs {
  /** Plain-named entries but plain files (a README beside the agents), in name order. */
  readonly entries: readonly AgentDirEntry[];
  /** Directories and symlinks whose name is not a plain agent id: the registry ignores them, with a warning. */
  readonly ignored: readonly string[];
}

/**
 * The registry's scan: contextEntryKind picks the candidates (the registry's own rule), and a candidate is an agent
 * when agentFingerprint sees its metadata.json.
 */
export function listAgentDirs(root: string): AgentDirs {
  const entries: AgentDirEntry[] = [];
  const ignored: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const dir = join(root, entry.name);
    const kind = contextEntryKind(entry);
    if (kind === 'not_plain') ignored.push(dir);
    if (kind !== 'candidate') continue;
    entries.push({ id: entry.name, dir, loads: agentFingerprint(dir) !== null, isDirectory: isDirectory(dir) });
  }
  return { entries, ignored };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}
