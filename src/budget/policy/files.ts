// The governance tree on disk: which policy files it names, their change signatures, and reading one through config/json-file.ts.
import { statSync, type Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isPlainAgentId } from '../../auth/agent.ts';
import { readJsonFile } from '../../config/json-file.ts';
import { parsePolicySource, unusableSource, type ParsedSource, type PolicySource } from './fields.ts';

export const SHARED_DIR = '_shared';
export const POLICY_FILE = 'budget.json';

export type PolicyFileKind = 'governance' | 'shared';

export interface GovernanceTree {
  /** Agent id → `<dir>/<agent>/budget.json`, for every plain-named entry but a plain file (symlinked directories count); the file may not exist. */
  readonly agents: ReadonlyMap<string, string>;
  /** Shared budget name → `<dir>/_shared/<name>.json`, for every entry so named but a directory (symlinks, FIFOs and devices count: reading them says what they are). */
  readonly shared: ReadonlyMap<string, string>;
  /** Files passed over because their name is not a plain id (they may not exist): `tollgate validate` warns about them. */
  readonly ignored: readonly { readonly file: string; readonly kind: PolicyFileKind }[];
}

/** Lists the tree (names only: nothing is opened). A directory that cannot be listed holds nothing. */
export async function listGovernanceTree(dir: string): Promise<GovernanceTree> {
  const agents = new Map<string, string>();
  const shared = new Map<string, string>();
  const ignored: { file: string; kind: PolicyFileKind }[] = [];
  for (const entry of await listDir(dir)) {
    if (entry.isFile()) continue; // a README beside the agents
    if (entry.name === SHARED_DIR) {
      for (const file of await listDir(join(dir, SHARED_DIR))) {
        if (file.isDirectory() || !file.name.endsWith('.json')) continue;
        const name = file.name.slice(0, -'.json'.length);
        if (isPlainAgentId(name)) shared.set(name, join(dir, SHARED_DIR, file.name));
        else ignored.push({ file: join(dir, SHARED_DIR, file.name), kind: 'shared' });
      }
    } else if (isPlainAgentId(entry.name)) {
      agents.set(entry.name, join(dir, entry.name, POLICY_FILE));
    } else {
      ignored.push({ file: join(dir, entry.name, POLICY_FILE), kind: 'governance' });
    }
  }
  return { agents, shared, ignored };
}

/**
 * What a rescan compares: type, identity, size and times (symlinks followed). Null when nothing is there (ENOENT, or
 * ENOTDIR: the agent "directory" is a plain file). Whatever else is there counts as present, so that reading it reports
 * the problem: a FIFO or a device (by its own signature), a symlink loop or EACCES (a signature naming the error).
 * Synchronous on purpose, as agentFingerprint (auth/agent-loader.ts): a stat costs microseconds, where the promise
 * version costs a thread-pool round trip and ~40 µs of main-thread CPU (a rescan of 10,000 files: 437 ms of CPU every
 * 2 s). Callers on the event loop call it in chunks that yield between them (store.ts).
 */
export function policyFileSignature(file: string): string | null {
  try {
    const info = statSync(file, { throwIfNoEntry: false });
    return info ? `${info.mode}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}` : null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? null : `!${code ?? 'error'}`;
  }
}

/**
 * One policy file as a source, read as agent files are (regular files only, at most 1 MiB, never blocking on a FIFO);
 * null when it is gone. A file that cannot be read or parsed is an unusable source whose problem says why, never thrown.
 */
export async function readPolicyFile(input: { file: string; kind: PolicyFileKind }): Promise<ParsedSource | null> {
  const source: PolicySource = { kind: input.kind, file: input.file };
  const read = await readJsonFile(input.file);
  if (read.kind === 'missing') return null;
  if (read.kind === 'error') return unusableSource(source, read.problem);
  if (read.value === null) return unusableSource(source, 'must be a JSON object, got null');
  return parsePolicySource({ raw: read.value, source });
}

async function listDir(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}
