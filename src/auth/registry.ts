// AgentRegistry: every agent of the context root held in memory, reloaded on change (fs.watch plus a periodic rescan); lookups never touch the disk.
import { statSync, type Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { DirWatches, type WatchFunction } from '../config/dir-watches.ts';
import { CONTEXT_OVERRIDE_FILE, contextEntryKind, isPlainAgentId, type Agent } from './agent.ts';
import { agentFiles, loadAgentDir } from './agent-loader.ts';
import { secretMatchesDigest } from './secret-compare.ts';

export interface AgentRegistryOptions {
  readonly contextRoot: string;
  /** Called after a rescan that added, changed or removed agents, with their ids. */
  readonly onChange?: (agentIds: readonly string[]) => void;
  /** Problems with files (each names file and field; never a secret). Called once per change of the file. */
  readonly onWarning?: (message: string) => void;
  /** Fallback rescan period; fs.watch triggers rescans sooner where it works. Default 2000 ms. */
  readonly pollMs?: number;
  /**
   * Most directories watched (the root and the first agents' directories; default 1024). Each is an inotify watch,
   * from a per-user limit shared with every other process: the agents past it are kept up to date by the rescan.
   */
  readonly maxWatches?: number;
  /** fs.watch (tests substitute one that fails as the system does when inotify watches run out). */
  readonly watch?: WatchFunction;
}

interface AgentRecord {
  readonly agent: Agent;
  readonly secretDigest: Buffer | null;
}

/** No secret hashes to this (it is random), so an unknown id costs the same comparison as a wrong secret. */
const UNKNOWN_AGENT_DIGEST = randomBytes(32);
const WATCH_DEBOUNCE_MS = 30;
const SCAN_CONCURRENCY = 32;
const DEFAULT_MAX_WATCHES = 1024;
/** The root's key among the watches (agent ids are plain names: never empty). */
const ROOT_KEY = '';

export class AgentRegistry {
  readonly #root: string;
  readonly #options: AgentRegistryOptions;
  readonly #records = new Map<string, AgentRecord>();
  /** Fingerprint last processed per id (good or broken), so an unchanged broken file is not re-reported every poll. */
  readonly #processed = new Map<string, string>();
  readonly #warnedNames = new Set<string>();
  /**
   * The problem last reported per broken metadata.json: a file stat'ed just before a write landed and read just after
   * is read again on the next scan (its fingerprint changed), and must not be reported twice.
   */
  readonly #reportedProblems = new Map<string, string>();
  readonly #watches: DirWatches;
  #pollTimer: NodeJS.Timeout | null = null;
  #debounceTimer: NodeJS.Timeout | null = null;
  #pendingFull = false;
  readonly #pendingIds = new Set<string>();
  #draining: Promise<void> | null = null;
  #stopped = false;
  #version = 0;

  constructor(options: AgentRegistryOptions) {
    this.#options = options;
    this.#root = resolve(options.contextRoot);
    const pollMs = options.pollMs ?? 2000;
    this.#watches = new DirWatches({
      max: options.maxWatches ?? DEFAULT_MAX_WATCHES,
      watch: options.watch,
      fallback: `the rescan of ${this.#root} every ${pollMs} ms`,
      onWarning: (message) => this.#warn(`agent registry: ${message}`),
    });
  }

  /** Bumps on every rescan that changed at least one agent. */
  get version(): number {
    return this.#version;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.reload();
    this.#pollTimer = setInterval(() => void this.#schedule({ full: true }), this.#options.pollMs ?? 2000);
    this.#pollTimer.unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    if (this.#debounceTimer) clearTimeout(this.#debounceTimer);
    this.#pollTimer = this.#debounceTimer = null;
    this.#watches.closeAll();
  }

  /** Directories watched now (the root and agent directories; at most maxWatches). */
  get watchedDirs(): number {
    return this.#watches.size;
  }

  /** Rescan the whole root now; resolves when a scan that started after this call has finished. Never rejects. */
  reload(): Promise<void> {
    return this.#schedule({ full: true });
  }

  get(id: string): Agent | undefined {
    return this.#records.get(id)?.agent;
  }

  list(): Agent[] {
    return [...this.#records.values()].map((record) => record.agent).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Unknown id and wrong secret both return null, after the same constant-time comparison. */
  authenticate(credentials: { agentId: string; secret: string }): Agent | null {
    const record = this.#records.get(credentials.agentId);
    const matches = secretMatchesDigest(credentials.secret, record?.secretDigest ?? UNKNOWN_AGENT_DIGEST);
    return matches && record?.secretDigest ? record.agent : null;
  }

  #schedule(request: { full: true } | { full: false; id: string }): Promise<void> {
    if (request.full) this.#pendingFull = true;
    else this.#pendingIds.add(request.id);
    this.#draining ??= this.#drain();
    return this.#draining;
  }

  async #drain(): Promise<void> {
    await Promise.resolve(); // let requests made in the same tick join this drain
    try {
      while (this.#pendingFull || this.#pendingIds.size > 0) {
        const full = this.#pendingFull;
        const ids = [...this.#pendingIds];
        this.#pendingFull = false;
        this.#pendingIds.clear();
        try {
          const changed = full ? await this.#scanRoot() : await this.#scanIds(ids);
          if (changed.length > 0) {
            this.#version += 1;
            this.#options.onChange?.(changed);
          }
        } catch (error) {
          this.#warn(`agent registry: rescan of ${this.#root} failed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
        }
      }
    } finally {
      this.#draining = null;
    }
  }

  async #scanRoot(): Promise<string[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.#root, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error; // keep what we have on EACCES and the like
      entries = [];
    }
    const ids = entries.filter((entry) => this.#acceptEntry(entry)).map((entry) => entry.name);
    if (this.#warnedNames.size > 0) {
      const names = new Set(entries.map((entry) => entry.name));
      for (const name of this.#warnedNames) if (!names.has(name)) this.#warnedNames.delete(name); // gone: forgotten
    }
    const present = new Set(ids);
    const removed = [...this.#records.keys(), ...this.#processed.keys()].filter((id) => !present.has(id));
    this.#ensureRootWatcher();
    return this.#scanIds([...new Set([...ids, ...removed])]);
  }

  async #scanIds(ids: readonly string[]): Promise<string[]> {
    const changed: string[] = [];
    for (let start = 0; start < ids.length; start += SCAN_CONCURRENCY) {
      const batch = ids.slice(start, start + SCAN_CONCURRENCY);
      const results = await Promise.all(batch.map((id) => this.#scanAgent(id)));
      await new Promise((resolve) => setImmediate(resolve)); // let requests run between batches
      batch.forEach((id, index) => results[index] && changed.push(id));
    }
    return changed;
  }

  /**
   * Returns true when the agent was added, changed or removed. Never rejects: what goes wrong with one agent's files is
   * that agent's warning, and the rest of the scan (every other agent's additions, changes and removals) still applies.
   */
  async #scanAgent(id: string): Promise<boolean> {
    try {
      return await this.#loadAgent(id);
    } catch (error) {
      this.#processed.delete(id); // retried on the next scan
      this.#warn(
        `agent "${id}": ${join(this.#root, id)} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ${this.#records.has(id) ? 'keeping its previous version' : 'it stays unknown'}`,
      );
      return false;
    }
  }

  async #loadAgent(id: string): Promise<boolean> {
    const dir = join(this.#root, id);
    const files = agentFiles(dir);
    await this.#ensureAgentWatcher(id, dir);
    if (files === null) return this.#forget(id, dir);
    if (this.#processed.get(id) === files.fingerprint) return false;
    this.#processed.set(id, files.fingerprint);
    const load = await loadAgentDir({ id, dir, files });
    if (load.kind === 'missing') return this.#forget(id, dir);
    if (load.kind === 'broken') {
      if (this.#reportedProblems.get(id) === load.problem) return false;
      this.#reportedProblems.set(id, load.problem);
      const previous = this.#records.has(id);
      this.#warn(`agent "${id}": ${load.problem}; ${previous ? 'keeping its previous version' : 'it stays unknown until the file is fixed'}`);
      return false;
    }
    this.#reportedProblems.delete(id);
    for (const warning of load.loaded.warnings) this.#warn(`agent "${id}": ${warning}`);
    this.#records.set(id, { agent: this.#withLastGoodOverride(id, load.loaded.agent), secretDigest: load.loaded.secretDigest });
    return true;
  }

  /**
   * A budget-override.json that stops parsing (saved half-way, a typo) keeps its last good version in force, as a
   * broken metadata.json keeps the agent: failing open on it would drop the limits it held. With no good version to
   * keep, the agent carries the error and its budget check is unavailable.
   */
  #withLastGoodOverride(id: string, agent: Agent): Agent {
    if (agent.contextOverrideError === undefined) return agent;
    const previous = this.#records.get(id)?.agent;
    if (!previous || previous.contextOverrideError !== undefined || previous.contextOverride === undefined) return agent;
    this.#warn(
      `agent "${id}": ${join(agent.dir, CONTEXT_OVERRIDE_FILE)}: ${agent.contextOverrideError}; its previous version stays in force until the file parses again`,
    );
    const { contextOverrideError: _dropped, ...rest } = agent;
    return Object.freeze({ ...rest, contextOverride: previous.contextOverride });
  }

  /** No metadata.json (any more). The directory stays watched while it exists, so a metadata.json written later is seen at once. */
  #forget(id: string, dir: string): boolean {
    this.#processed.delete(id);
    this.#reportedProblems.delete(id);
    if (!isDirectory(dir)) this.#watches.delete(id);
    return this.#records.delete(id);
  }

  /** Only plain names are agent ids; a directory with any other name (`.hidden`, odd characters) is ignored, with one warning per name. */
  #acceptEntry(entry: Dirent): boolean {
    const name = entry.name;
    const kind = contextEntryKind(entry);
    if (kind === 'candidate') return true;
    if (kind === 'not_plain' && !this.#warnedNames.has(name)) {
      this.#warnedNames.add(name);
      this.#warn(`agent registry: ignoring "${join(this.#root, name)}": not a plain agent id (letters, digits, ".", "_", "-"; no leading "." or "_")`);
    }
    return false;
  }

  #ensureRootWatcher(): void {
    if (this.#stopped || this.#watches.has(ROOT_KEY)) return;
    this.#watches.add(ROOT_KEY, this.#root, (name) => {
      if (name && isPlainAgentId(name)) {
        // The directory itself was created, removed or replaced: watch it afresh.
        this.#watches.delete(name);
        this.#scheduleSoon({ full: false, id: name });
      } else {
        this.#scheduleSoon({ full: true });
      }
    });
  }

  /** Where it works and while there is room (no system call when there is none); elsewhere the periodic rescan covers. */
  async #ensureAgentWatcher(id: string, dir: string): Promise<void> {
    if (this.#stopped || this.#watches.has(id) || !this.#watches.accepting) return;
    const info = await stat(dir).catch(() => null);
    if (!info?.isDirectory() || this.#stopped || this.#watches.has(id)) return;
    this.#watches.add(id, dir, () => this.#scheduleSoon({ full: false, id }));
  }

  /** Watch events come in bursts while a file is being written: wait a moment, then rescan what they named. */
  #scheduleSoon(request: { full: true } | { full: false; id: string }): void {
    if (this.#stopped) return;
    if (request.full) this.#pendingFull = true;
    else this.#pendingIds.add(request.id);
    if (this.#debounceTimer) return;
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = null;
      if (!this.#stopped) this.#draining ??= this.#drain();
    }, WATCH_DEBOUNCE_MS);
    this.#debounceTimer.unref();
  }

  #warn(message: string): void {
    try {
      this.#options.onWarning?.(message);
    } catch {
      // a failing logger must not break reloads
    }
  }
}

/** Whether the path is a directory (through symlinks); false for anything that cannot be stat'ed, a loop included. */
function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}
