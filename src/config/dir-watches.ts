// A bounded set of non-recursive directory watches (fs.watch); what is not watched is left to its owner's periodic rescan.
import { watch as fsWatch, type FSWatcher } from 'node:fs';

export type WatchFunction = (path: string, options: { persistent: boolean }, listener: (event: string, name: string | Buffer | null) => void) => FSWatcher;

export interface DirWatchesOptions {
  /**
   * Most watches held. Each is an inotify watch on Linux, taken from `fs.inotify.max_user_watches`, a limit shared by
   * every process of the user (8,192 on many hosts): one per agent directory would take it all in a large fleet.
   */
  readonly max: number;
  /** After the system refuses a watch (no inotify watches left, no file descriptors), none is tried for this long. Default 60 s. */
  readonly retryMs?: number;
  /** What is left to the rescan, said once per episode (the owner's log). */
  readonly onWarning?: (message: string) => void;
  /** The rescan that covers what is not watched, as the warnings describe it (e.g. "the rescan every 2 s"). */
  readonly fallback?: string;
  readonly now?: () => number;
  /** fs.watch (tests substitute one that fails). */
  readonly watch?: WatchFunction;
}

const DEFAULT_RETRY_MS = 60_000;
/** Refusals that say the system (not the directory) is out of something: every other watch would fail alike for a while. */
const SYSTEM_LIMITS = new Set(['ENOSPC', 'EMFILE', 'ENFILE']);

/**
 * `add` never throws and costs no system call when the set is full or backing off after a refusal, so a rescan of
 * 10,000 agents with no inotify watches left does not try (and fail) 10,000 watches every time. A watcher that fails
 * later (its directory removed, say) is closed and forgotten: the owner's next scan adds it again if it still matters.
 */
export class DirWatches {
  readonly #options: DirWatchesOptions;
  readonly #now: () => number;
  readonly #watch: WatchFunction;
  readonly #watchers = new Map<string, FSWatcher>();
  #refusedUntil = 0;
  #warnedRefused = false;
  #warnedFull = false;

  constructor(options: DirWatchesOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#watch = options.watch ?? (fsWatch as WatchFunction);
  }

  get size(): number {
    return this.#watchers.size;
  }

  has(key: string): boolean {
    return this.#watchers.has(key);
  }

  /** The keys watched now. */
  keys(): IterableIterator<string> {
    return this.#watchers.keys();
  }

  /** Whether `add` of a new key would try at all (not full, not backing off): lets the owner skip its own checks. */
  get accepting(): boolean {
    return this.#watchers.size < this.#options.max && this.#now() >= this.#refusedUntil;
  }

  /** Watches `path` under `key` (a key already watched is left as it is). False when it is not watched. */
  add(key: string, path: string, onEvent: (name: string | null) => void): boolean {
    if (this.#watchers.has(key)) return true;
    if (this.#watchers.size >= this.#options.max) {
      this.#warnOnce('full', `watching ${this.#options.max} directories, the most allowed; changes in the others are picked up by ${this.#fallbackText()}`);
      return false;
    }
    if (this.#now() < this.#refusedUntil) return false;
    let watcher: FSWatcher;
    try {
      watcher = this.#watch(path, { persistent: false }, (_event, name) => onEvent(typeof name === 'string' ? name : null));
    } catch (error) {
      this.#refused(path, error as NodeJS.ErrnoException);
      return false;
    }
    watcher.on('error', () => {
      watcher.close();
      if (this.#watchers.get(key) === watcher) this.#watchers.delete(key);
    });
    this.#watchers.set(key, watcher);
    this.#warnedRefused = false; // a later refusal is a new episode, worth saying again
    return true;
  }

  delete(key: string): void {
    this.#watchers.get(key)?.close();
    this.#watchers.delete(key);
  }

  closeAll(): void {
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }

  #refused(path: string, error: NodeJS.ErrnoException): void {
    const code = error.code ?? 'error';
    if (!SYSTEM_LIMITS.has(code)) return; // this directory's own problem (gone, no permission): the next scan tries it again
    this.#refusedUntil = this.#now() + (this.#options.retryMs ?? DEFAULT_RETRY_MS);
    const why = code === 'ENOSPC' ? 'ENOSPC: no inotify watches left, see fs.inotify.max_user_watches' : `${code}: no file descriptors left`;
    this.#warnOnce(
      'refused',
      `cannot watch ${path} (${why}); changes there are picked up by ${this.#fallbackText()}, and no new watch is tried for ${Math.round((this.#options.retryMs ?? DEFAULT_RETRY_MS) / 1000)} s`,
    );
  }

  #fallbackText(): string {
    return this.#options.fallback ?? 'the periodic rescan';
  }

  #warnOnce(kind: 'full' | 'refused', message: string): void {
    if (kind === 'full' ? this.#warnedFull : this.#warnedRefused) return;
    if (kind === 'full') this.#warnedFull = true;
    else this.#warnedRefused = true;
    try {
      this.#options.onWarning?.(message);
    } catch {
      // a failing logger must not break a rescan
    }
  }
}
