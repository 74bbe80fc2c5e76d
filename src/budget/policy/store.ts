// Governance policy files held in memory: loaded at start, watched and rescanned, validated on change, merged per agent.
import { randomUUID } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONTEXT_OVERRIDE_FILE, isPlainAgentId, type Agent } from '../../auth/agent.ts';
import { DirWatches, type WatchFunction } from '../../config/dir-watches.ts';
import { parsePolicySource, sourceProblems, unusableSource, type ParsedSource, type PolicySource } from './fields.ts';
import { listGovernanceTree, policyFileSignature, POLICY_FILE, readPolicyFile, SHARED_DIR, type GovernanceTree, type PolicyFileKind } from './files.ts';
import { resolvePolicy, type LimitSpec, type PolicyResult } from './policy.ts';

export interface PolicyStoreOptions {
  /** CLAW_GOVERNANCE_DIR, or null when unset (then only metadata and context overrides apply). */
  readonly governanceDir: string | null;
  /** Called after a rescan that added, changed or removed files, with their paths. */
  readonly onChange?: (files: readonly string[]) => void;
  /** Called for every problem of a file the moment it is (re)loaded: `message` is `field: what is wrong`. */
  readonly onError?: (file: string, message: string) => void;
  /** Fallback rescan period; fs.watch triggers rescans sooner where it works. Default 2000 ms. */
  readonly pollMs?: number;
  /**
   * Most directories watched (the governance directory, `_shared`, then agent directories; default 1024), each one
   * inotify watch from a per-user limit: changes in the directories past it are picked up by the rescan.
   */
  readonly maxWatches?: number;
  /** fs.watch (tests substitute one that fails as the system does when inotify watches run out). */
  readonly watch?: WatchFunction;
  /** Problems with watching (none left, too many directories): the periodic rescan covers, said once. */
  readonly onWarning?: (message: string) => void;
}

export interface SharedBudgetInfo {
  readonly name: string;
  readonly file: string;
  /** Problems of the file (empty when it is valid). */
  readonly problems: readonly string[];
  readonly limits: readonly LimitSpec[];
}

/** Thrown by writeOverride for a policy that does not validate; `problems` are `field: message` lines. */
export class PolicyValidationError extends Error {
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly string[]) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'PolicyValidationError';
    this.problems = problems;
  }
}

const DEFAULT_MAX_WATCHES = 1024;
/**
 * Policy files whose signature one turn of the event loop reads (a stat each), and directories it starts watching (an
 * inotify watch each), so a rescan of 10,000 agents never holds the loop for more than a fraction of a millisecond.
 */
const SCAN_CHUNK = 64;
/** Keys of the two directories that are not an agent's (agent ids never are empty or start with `_`). */
const ROOT_KEY = '';
const SHARED_KEY = SHARED_DIR;

interface LoadedFile {
  readonly signature: string;
  readonly parsed: ParsedSource;
}

export class PolicyStore {
  readonly #options: PolicyStoreOptions;
  readonly #governance = new Map<string, LoadedFile>();
  readonly #shared = new Map<string, LoadedFile>();
  readonly #cache = new WeakMap<Agent, { version: number; result: PolicyResult }>();
  #version = 0;
  #scanning: Promise<void> | null = null;
  #rescanAgain = false;
  readonly #watches: DirWatches;
  #watching = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: PolicyStoreOptions) {
    this.#options = options;
    this.#watches = new DirWatches({
      max: options.maxWatches ?? DEFAULT_MAX_WATCHES,
      watch: options.watch,
      fallback: `the rescan every ${options.pollMs ?? 2000} ms`,
      onWarning: (message) => options.onWarning?.(`governance policies: ${message}`),
    });
  }

  /** Bumped on every change of the files held; cached effective policies of an older version are recomputed. */
  get version(): number {
    return this.#version;
  }

  /**
   * Loads every governance file, then watches the directories (each rescan watches new ones) and rescans every `pollMs`.
   * Not fs.watch's `recursive` mode: on Linux, Node 20 emulates it with one watch per file and directory and lists the
   * whole tree synchronously on every change of a directory (tens of milliseconds of stalled event loop per agent
   * directory created, at 10,000 agents).
   */
  async start(): Promise<void> {
    const dir = this.#options.governanceDir;
    this.#watching = dir !== null;
    await this.reload();
    if (!dir) return;
    this.#timer = setInterval(() => void this.reload(), this.#options.pollMs ?? 2000);
    this.#timer.unref();
  }

  /** Stops watching and rescanning (a rescan in progress finishes on its own). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#watching = false;
    this.#watches.closeAll();
  }

  /** Directories watched now (at most maxWatches). */
  get watchedDirs(): number {
    return this.#watches.size;
  }

  /** Stops, then waits for a rescan in progress. */
  async close(): Promise<void> {
    this.stop();
    await this.#scanning;
  }

  /** Rescans the governance directory now (reading only files whose size, mtime or inode changed). */
  reload(): Promise<void> {
    if (this.#scanning) {
      this.#rescanAgain = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      try {
        do {
          this.#rescanAgain = false;
          await this.#scan();
        } while (this.#rescanAgain);
      } finally {
        this.#scanning = null;
      }
    })();
    return this.#scanning;
  }

  /** The agent's effective policy, from memory only. Cached per agent object and store version, and until an override expires. */
  effective(agent: Agent, now: number): PolicyResult {
    const cached = this.#cache.get(agent);
    if (cached && cached.version === this.#version && (cached.result.validUntil === null || now < cached.result.validUntil)) return cached.result;
    const result = this.#resolve(agent, this.#agentSources(agent), now);
    this.#cache.set(agent, { version: this.#version, result });
    return result;
  }

  /**
   * The agent's effective policy if its governance override were `policy` (nothing is written): lets the admin API
   * refuse an override that would make the budget unusable before any request can see it.
   */
  previewOverride(agent: Agent, policy: unknown, now: number): PolicyResult {
    const file = this.#requireGovernanceFile(agent.id);
    return this.#resolve(agent, this.#agentSources(agent, parsePolicySource({ raw: policy, source: { kind: 'governance', file } })), now);
  }

  /** Merges an agent's sources with the shared budgets it names, as loaded. */
  #resolve(agent: Agent, sources: ParsedSource[], now: number): PolicyResult {
    return resolvePolicy({
      agentId: agent.id,
      sources,
      shared: (name) => this.#shared.get(name) ?? null,
      sharedDir: this.#options.governanceDir ? join(this.#options.governanceDir, SHARED_DIR) : null,
      now,
      agentTimezone: agent.timezone,
    });
  }

  listShared(): SharedBudgetInfo[] {
    return [...this.#shared.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, loaded]) => {
        const problems = sourceProblems(loaded.parsed);
        const probe = resolvePolicy({
          agentId: '_',
          sources: [emptySharedUser(name)],
          shared: (wanted) => (wanted === name ? loaded : null),
          sharedDir: null,
          now: 0,
        });
        return {
          name,
          file: loaded.parsed.source.file,
          problems: probe.kind === 'unavailable' ? probe.problems.map((line) => stripFile(line, loaded.parsed.source.file)) : problems,
          limits: probe.kind === 'policy' ? probe.limits : [],
        };
      });
  }

  /** `$CLAW_GOVERNANCE_DIR/<agent>/budget.json`, or null when the directory is unset or the id is not a plain name. */
  governanceFile(agentId: string): string | null {
    const dir = this.#options.governanceDir;
    return dir && isPlainAgentId(agentId) ? join(dir, agentId, POLICY_FILE) : null;
  }

  /** What is wrong with `policy` as the agent's governance file on its own (`field: message` lines; empty when valid). */
  overrideProblems(agentId: string, policy: unknown): string[] {
    const file = this.#requireGovernanceFile(agentId);
    if (policy === null || policy === undefined) return ['must be a JSON object'];
    return sourceProblems(parsePolicySource({ raw: policy, source: { kind: 'governance', file } }));
  }

  /** Writes the agent's governance override atomically (temp file + rename) after validating it, then reloads. */
  async writeOverride(agentId: string, policy: unknown): Promise<void> {
    const file = this.#requireGovernanceFile(agentId);
    const problems = this.overrideProblems(agentId, policy);
    if (problems.length > 0) throw new PolicyValidationError(file, problems);
    await mkdir(join(this.#options.governanceDir!, agentId), { recursive: true });
    // one temporary file per write: two writes in the same millisecond (two PUTs racing, two replicas) sharing a name
    // would interleave their bytes in it and rename a torn file into place
    const temp = `${file}.${process.pid}.${randomUUID()}.tmp`;
    try {
      await writeFile(temp, `${JSON.stringify(policy, null, 2)}\n`, { mode: 0o644 });
      await rename(temp, file);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    await this.reload();
  }

  /** Removes the agent's governance override; false when there was none. */
  async clearOverride(agentId: string): Promise<boolean> {
    const file = this.#requireGovernanceFile(agentId);
    let existed = true;
    try {
      await unlink(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      existed = false;
    }
    await this.reload();
    return existed;
  }

  #requireGovernanceFile(agentId: string): string {
    if (!isPlainAgentId(agentId)) throw new PolicyValidationError(agentId, ['agent id must be a plain name (letters, digits, . _ -)']);
    const file = this.governanceFile(agentId);
    if (!file) throw new PolicyValidationError(agentId, ['CLAW_GOVERNANCE_DIR is not set: there is nowhere to write an override']);
    return file;
  }

  /** Metadata, context override, then the governance override (the loaded one, or `governance` when previewing). */
  #agentSources(agent: Agent, governance: ParsedSource | null = this.#governance.get(agent.id)?.parsed ?? null): ParsedSource[] {
    const sources = [parsePolicySource({ raw: agent.metadataBudget, source: { kind: 'metadata', file: join(agent.dir, 'metadata.json') }, prefix: 'budget.' })];
    const overrideSource: PolicySource = { kind: 'context_override', file: join(agent.dir, CONTEXT_OVERRIDE_FILE) };
    sources.push(
      agent.contextOverrideError
        ? unusableSource(overrideSource, agent.contextOverrideError)
        : parsePolicySource({ raw: agent.contextOverride, source: overrideSource }),
    );
    if (governance) sources.push(governance);
    return sources;
  }

  /** Watches the directories the tree holds (while there is room), and drops the watches of those that are gone. */
  async #watchTree(dir: string, tree: GovernanceTree): Promise<void> {
    if (!this.#watching) return;
    const onEvent = () => void this.reload();
    this.#watches.add(ROOT_KEY, dir, (name) => {
      if (name) this.#watches.delete(name); // that directory was created, removed or replaced: watched afresh by the rescan
      onEvent();
    });
    this.#watches.add(SHARED_KEY, join(dir, SHARED_DIR), onEvent);
    for (const key of this.#watches.keys()) {
      if (key !== ROOT_KEY && key !== SHARED_KEY && !tree.agents.has(key)) this.#watches.delete(key);
    }
    let added = 0;
    for (const id of tree.agents.keys()) {
      if (!this.#watches.accepting) break;
      if (this.#watches.has(id)) continue;
      this.#watches.add(id, join(dir, id), onEvent);
      if (++added % SCAN_CHUNK === 0) {
        await nextTurn();
        if (!this.#watching) return; // stopped meanwhile
      }
    }
  }

  async #scan(): Promise<void> {
    const dir = this.#options.governanceDir;
    if (!dir) return;
    const tree = await listGovernanceTree(dir);
    await this.#watchTree(dir, tree);
    const changed = [
      ...(await this.#sync({ held: this.#governance, seen: tree.agents, kind: 'governance' })),
      ...(await this.#sync({ held: this.#shared, seen: tree.shared, kind: 'shared' })),
    ];
    if (changed.length === 0) return;
    this.#version += 1;
    this.#options.onChange?.(changed);
  }

  async #sync(input: { held: Map<string, LoadedFile>; seen: ReadonlyMap<string, string>; kind: PolicyFileKind }): Promise<string[]> {
    const { held, seen, kind } = input;
    const changed: string[] = [];
    const forget = (key: string, file: string) => held.delete(key) && changed.push(file);
    for (const [key, loaded] of held) if (!seen.has(key)) forget(key, loaded.parsed.source.file);
    let inChunk = 0;
    for (const [key, file] of seen) {
      if (++inChunk > SCAN_CHUNK) {
        inChunk = 1;
        await nextTurn();
      }
      const signature = policyFileSignature(file);
      const previous = held.get(key);
      if (previous && previous.signature === signature) continue;
      const parsed = signature === null ? null : await readPolicyFile({ file, kind }); // null: not there (any more)
      if (parsed === null || signature === null) {
        forget(key, file);
        continue;
      }
      if (parsed.fatal !== null && previous && previous.parsed.fatal === null) {
        // a file that stopped parsing (saved half-way, a typo) or can no longer be read (grown past the limit, replaced
        // by a FIFO) keeps its last good version in force, as a broken metadata.json keeps its agent: failing open on it
        // would drop the limits it held
        held.set(key, { signature, parsed: previous.parsed });
        this.#tell(file, `${parsed.fatal}; its previous version stays in force until the file parses again`);
        continue;
      }
      held.set(key, { signature, parsed });
      changed.push(file);
      this.#report(parsed, kind === 'shared' ? key : null);
    }
    return changed;
  }

  #report(parsed: ParsedSource, sharedName: string | null): void {
    const file = parsed.source.file;
    let problems = sourceProblems(parsed);
    if (sharedName && problems.length === 0) {
      const probe = resolvePolicy({ agentId: '_', sources: [emptySharedUser(sharedName)], shared: () => ({ parsed }), sharedDir: null, now: 0 });
      if (probe.kind === 'unavailable') problems = probe.problems.map((line) => stripFile(line, file));
    }
    for (const message of [...problems, ...parsed.warnings]) this.#tell(file, message);
  }

  /** A failing reporter must not stop a rescan half-way: the files after it would not load. */
  #tell(file: string, message: string): void {
    try {
      this.#options.onError?.(file, message);
    } catch {
      // reported or not, the rescan goes on
    }
  }
}

/** A minimal source naming one shared budget, used to validate a shared file on its own. */
function emptySharedUser(name: string): ParsedSource {
  return parsePolicySource({ raw: { shared: [name] }, source: { kind: 'governance', file: '(probe)' } });
}

function stripFile(line: string, file: string): string {
  return line.startsWith(`${file}: `) ? line.slice(file.length + 2) : line;
}

/** Resolves on the next turn of the event loop (after I/O callbacks): what lets calls run between chunks of a rescan. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
