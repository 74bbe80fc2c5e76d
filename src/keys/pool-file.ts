// Key state written back to providers.json in cllama's v2 shape (0600, atomic, merged into the file as it is), and reloaded on change.
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { providersFromFile } from '../config/providers-file.ts';
import type { DeclaredKey, Provider } from '../upstream/provider.ts';
import { poolKeyOf, poolProviderOf, type PoolKey, type PoolProvider } from './pool.ts';
import { renderKey, renderProvider, toV2, orderedDocument, type RawDocument } from './v2-shape.ts';

interface PoolsView {
  get(name: string): PoolProvider | undefined;
  list(): PoolProvider[];
  install(pool: PoolProvider): void;
  uninstall(name: string): void;
  scheduleRecheck(pool: PoolProvider, key: PoolKey): void;
  setState(key: PoolKey, fields: Partial<PoolKey>, at: number): void;
  readonly now: () => number;
  readonly health: { track(provider: string, keyId: string): Promise<void> };
}

interface Dirty {
  provider: boolean;
  readonly keys: Set<string>;
  readonly deleted: Set<string>;
}

const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 5000;
const POLL_MS = 2000;

export class PoolFile {
  readonly #file: string;
  readonly #pools: PoolsView;
  readonly #warn: (message: string) => void;
  readonly #dirty = new Map<string, Dirty>();
  /** What the file said at the last read or write, per provider and per key: a reload applies only what changed since. */
  readonly #seen = new Map<string, string>();
  #writing: Promise<void> | null = null;
  #watcher: FSWatcher | null = null;
  #poll: NodeJS.Timeout | null = null;
  #reloadTimer: NodeJS.Timeout | null = null;
  #lastStat = '';
  #closed = false;

  constructor(options: { file: string; pools: PoolsView; onWarning: (message: string) => void }) {
    this.#file = options.file;
    this.#pools = options.pools;
    this.#warn = options.onWarning;
  }

  markKey(provider: string, keyId: string): void {
    this.#entry(provider).keys.add(keyId);
    this.#schedule();
  }

  markDeleted(provider: string, keyId: string): void {
    this.#entry(provider).deleted.add(keyId);
    this.#schedule();
  }

  /** The provider's own fields (active key, strategy), or a provider the file lacks (written whole). */
  markProvider(provider: string): void {
    this.#entry(provider).provider = true;
    this.#schedule();
  }

  /** Resolves once every change marked so far is written. */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Notes what the file holds now (without applying it), then follows its changes. */
  watch(): void {
    void this.#readSeen();
    try {
      this.#watcher = watch(dirname(this.#file), (_event, name) => {
        if (name === null || name === basename(this.#file)) this.#reloadSoon();
      });
      this.#watcher.on('error', () => {});
    } catch {
      // no directory yet: the poll finds the file once written
    }
    this.#poll = setInterval(() => void this.#pollStat(), POLL_MS);
    this.#poll.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    if (this.#poll) clearInterval(this.#poll);
    if (this.#reloadTimer) clearTimeout(this.#reloadTimer);
    await this.flush();
  }

  #entry(provider: string): Dirty {
    let dirty = this.#dirty.get(provider);
    if (!dirty) {
      dirty = { provider: false, keys: new Set(), deleted: new Set() };
      this.#dirty.set(provider, dirty);
    }
    return dirty;
  }

  #schedule(): void {
    if (this.#writing) return;
    this.#writing = (async () => {
      await new Promise((resolve) => setImmediate(resolve)); // marks of one turn in one write
      while (this.#dirty.size > 0) await this.#write();
      this.#writing = null;
    })();
  }

  /** Read the file as it is now, merge this replica's changes into it, write a temp file (0600) and rename it over. */
  async #write(): Promise<void> {
    const changes = new Map(this.#dirty);
    this.#dirty.clear();
    const unlock = await this.#lock();
    try {
      const text = await readFile(this.#file, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : Promise.reject(error)));
      const doc = toV2(text === null ? { providers: {} } : (JSON.parse(text) as RawDocument), this.#pools.now());
      for (const [name, dirty] of changes) this.#merge(doc, name, dirty);
      const out = JSON.stringify(orderedDocument(doc), null, 2);
      await mkdir(dirname(this.#file), { recursive: true });
      const tmp = `${this.#file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, out, { mode: 0o600 });
      await rename(tmp, this.#file).catch(async (error) => {
        await unlink(tmp).catch(() => {});
        throw error;
      });
      this.#remember(this.#parse(doc, false) ?? []);
    } catch (error) {
      // as cllama: the state keeps applying in memory; unlike cllama, the operator is told
      this.#warn(`key pool: writing ${this.#file} failed (key state kept in memory only): ${(error as Error).message}`);
    } finally {
      await unlock();
    }
  }

  #merge(doc: RawDocument, name: string, dirty: Dirty): void {
    const pool = this.#pools.get(name);
    const entries = doc.providers;
    const existing = Object.keys(entries).find((key) => key.trim().toLowerCase() === name);
    if (!pool) {
      if (existing && dirty.provider) delete entries[existing];
      return;
    }
    if (!existing) {
      entries[name] = renderProvider(pool);
      return;
    }
    const entry = entries[existing];
    if (dirty.provider) {
      if (pool.activeKeyId) entry.active_key_id = pool.activeKeyId;
      else delete entry.active_key_id;
      if (pool.strategy !== 'active_first' || entry.key_strategy !== undefined) entry.key_strategy = pool.strategy;
    }
    if (!Array.isArray(entry.keys)) entry.keys = [];
    const keys = entry.keys as NonNullable<typeof entry.keys>;
    for (const id of dirty.deleted) {
      const index = keys.findIndex((key) => key?.id === id);
      if (index >= 0) keys.splice(index, 1);
    }
    for (const id of dirty.keys) {
      const key = pool.keys.find((candidate) => candidate.id === id);
      if (!key) continue;
      const index = keys.findIndex((candidate) => candidate?.id === id);
      if (index >= 0) keys[index] = { ...keys[index], ...renderKey(key) };
      else keys.push(renderKey(key));
    }
  }

  async #lock(): Promise<() => Promise<void>> {
    const lock = `${this.#file}.lock`;
    await mkdir(dirname(this.#file), { recursive: true }).catch(() => {});
    const until = Date.now() + LOCK_WAIT_MS;
    while (Date.now() < until) {
      try {
        const handle = await open(lock, 'wx', 0o600);
        await handle.close();
        return () => unlink(lock).catch(() => {});
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return async () => {};
        const held = await stat(lock).catch(() => null);
        if (held && Date.now() - held.mtimeMs > LOCK_STALE_MS) await unlink(lock).catch(() => {});
        else await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    return async () => {}; // a lock never released: write anyway (the merge still keeps what the file holds)
  }

  #reloadSoon(): void {
    if (this.#closed || this.#reloadTimer) return;
    this.#reloadTimer = setTimeout(() => {
      this.#reloadTimer = null;
      void this.#reload();
    }, 25);
  }

  async #pollStat(): Promise<void> {
    const now = await stat(this.#file).catch(() => null);
    const signature = now ? `${now.ino}:${now.size}:${now.mtimeMs}` : '';
    if (signature !== this.#lastStat) {
      this.#lastStat = signature;
      this.#reloadSoon();
    }
  }

  async #readSeen(): Promise<void> {
    const providers = await this.#readProviders();
    if (providers) this.#remember(providers);
  }

  async #readProviders(): Promise<Provider[] | null> {
    const text = await readFile(this.#file, 'utf8').catch(() => null);
    if (text === null) return null;
    try {
      return this.#parse(JSON.parse(text), true);
    } catch (error) {
      this.#warn(`key pool: ${this.#file} is not valid JSON (not reloaded): ${(error as Error).message}`);
      return null;
    }
  }

  #parse(json: unknown, report: boolean): Provider[] | null {
    const problems: string[] = [];
    const providers = providersFromFile({ file: this.#file, json, now: new Date(this.#pools.now()), problems });
    if (problems.length > 0 && report) {
      this.#warn(`key pool: ${this.#file} not reloaded: ${problems.join('; ')}`);
      return null;
    }
    return providers;
  }

  /** Applies what changed in the file since it was last read or written: providers and keys added, changed, removed. */
  async #reload(): Promise<void> {
    if (this.#writing) await this.flush();
    const providers = await this.#readProviders();
    if (!providers || this.#closed) return;
    const now = this.#pools.now();
    const named = new Set(providers.map((provider) => provider.name));
    for (const provider of providers) {
      const pool = this.#pools.get(provider.name);
      if (!pool) {
        const added = poolProviderOf(provider, now);
        this.#pools.install(added);
        for (const key of added.keys) void this.#pools.health.track(added.name, key.id);
        continue;
      }
      this.#applyProvider(pool, provider, now);
    }
    for (const pool of this.#pools.list()) if (!named.has(pool.name) && this.#seen.has(pool.name)) this.#pools.uninstall(pool.name);
    this.#seen.clear();
    this.#remember(providers);
  }

  #applyProvider(pool: PoolProvider, provider: Provider, now: number): void {
    let keysChanged = false;
    if (this.#seen.get(pool.name) !== providerSignature(provider)) {
      const { baseUrl, auth, apiFormat, forwardHeaders } = provider;
      pool.definition = { ...pool.definition, baseUrl, auth, apiFormat, forwardHeaders };
      pool.activeKeyId = provider.activeKeyId ?? null;
      pool.strategy = provider.keyStrategy ?? 'active_first';
      keysChanged = true;
    }
    const declared = provider.declaredKeys ?? [];
    for (const key of declared) {
      const held = pool.keys.find((candidate) => candidate.id === key.id);
      if (!held) {
        pool.keys.push(poolKeyOf(key, now));
        void this.#pools.health.track(pool.name, key.id);
        keysChanged = true;
      } else if (this.#seen.get(seenKey(pool.name, key.id)) !== keySignature(key)) {
        const { label, secret, source, addedAt, state, cooldownUntil, lastErrorCode, lastErrorReason, lastErrorAt } = key;
        keysChanged ||= held.secret !== secret || held.label !== label;
        Object.assign(held, { label, secret, source, addedAt });
        this.#pools.setState(held, { state, cooldownUntil, lastErrorCode, lastErrorReason, lastErrorAt }, now);
        this.#pools.scheduleRecheck(pool, held);
      }
    }
    const ids = new Set(declared.map((key) => key.id));
    const kept = pool.keys.filter((key) => ids.has(key.id) || !this.#seen.has(seenKey(pool.name, key.id)));
    if (kept.length !== pool.keys.length) {
      pool.keys = kept;
      keysChanged = true;
    }
    if (keysChanged) this.#pools.install(pool);
  }

  #remember(providers: readonly Provider[]): void {
    for (const provider of providers) {
      this.#seen.set(provider.name, providerSignature(provider));
      for (const key of provider.declaredKeys ?? []) this.#seen.set(seenKey(provider.name, key.id), keySignature(key));
    }
  }
}

function seenKey(provider: string, keyId: string): string {
  return `${provider}\u0000${keyId}`;
}

function providerSignature(provider: Provider): string {
  return JSON.stringify([
    provider.baseUrl,
    provider.auth,
    provider.apiFormat,
    provider.activeKeyId ?? null,
    provider.keyStrategy ?? null,
    provider.forwardHeaders ?? null,
  ]);
}

function keySignature(key: DeclaredKey): string {
  return JSON.stringify([
    key.label,
    key.secret,
    key.source,
    key.state,
    key.cooldownUntil,
    key.lastErrorCode,
    key.lastErrorReason,
    key.lastErrorAt,
    key.addedAt,
  ]);
}
