// Short-lived coordination state shared by replicas (key health, circuits): the seam, its memory form and a local mirror.

/**
 * Key-value state with expiry, counters and leases, shared by every replica on the same ledger (the memory form serves
 * one process). Every write that changes a value (put, a won claim, delete) is announced to every subscriber, this
 * replica's included; counts and expiries are not announced (store an absolute time in the value when readers need one).
 * Operations on the Redis form reject while Redis is unreachable (LedgerUnreachableError): callers keep their local view.
 */
export interface SharedState {
  /** +1 in a window that starts at the first count (the counter expires windowMs after it); returns the new total. */
  count(key: string, windowMs: number): Promise<number>;
  /** Sets a value, for ttlMs (null: until deleted). */
  put(key: string, value: string, ttlMs: number | null): Promise<void>;
  /** Values in key order; null for a key absent or expired. */
  get(keys: readonly string[]): Promise<(string | null)[]>;
  /** Set-if-absent lease (a half-open probe, a re-check): true when this caller won it. */
  claim(key: string, value: string, ttlMs: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /**
   * Called with the key of every change made by any replica. `*` means changes may have been missed (the subscription
   * was re-established after Redis came back): reload what you hold. Returns the unsubscribe function.
   */
  subscribe(listener: (key: string) => void): () => void;
  close(): Promise<void>;
  /**
   * Redis only: `lua` as an atomic script on keys of this state (named as the other operations name keys), for state
   * that one put or count cannot update (the loop breaker's). The memory form has none: one process holds such state in
   * its own memory.
   */
  readonly script?: (lua: string) => SharedScript;
}

/**
 * A script's call: the keys it runs on (KEYS), its arguments (ARGV), and the budget group the keys belong to (on a
 * Redis Cluster each group has its own hash tag, so one call's keys are all in one group; null: the prefix's own tag).
 * Rejects as the other operations do.
 */
export type SharedScript = (keys: readonly string[], args: readonly (string | number)[], group?: string | null) => Promise<unknown>;

/** The key a subscriber receives when it must reload everything it mirrors. */
export const RESYNC_ALL = '*';

interface Entry {
  readonly value: string;
  readonly expiresAt: number | null;
}

/** Entries swept of expired ones once the map grows past this (keys are few: providers × keys, circuits). */
const SWEEP_AT = 4096;

/** One process's shared state (TOLLGATE_LEDGER=memory): a map with expiry; listeners called after the change, async. */
export class MemorySharedState implements SharedState {
  private readonly values = new Map<string, Entry>();
  private readonly counters = new Map<string, Entry>();
  private readonly listeners = new Set<(key: string) => void>();
  private readonly now: () => number;

  constructor(options: { readonly now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
  }

  async count(key: string, windowMs: number): Promise<number> {
    const held = this.live(this.counters, key);
    const total = (held ? Number(held.value) : 0) + 1;
    this.store(this.counters, key, { value: String(total), expiresAt: held ? held.expiresAt : this.now() + Math.max(1, windowMs) });
    return total;
  }

  async put(key: string, value: string, ttlMs: number | null): Promise<void> {
    this.store(this.values, key, { value, expiresAt: ttlMs === null ? null : this.now() + Math.max(1, ttlMs) });
    this.announce(key);
  }

  async get(keys: readonly string[]): Promise<(string | null)[]> {
    return keys.map((key) => this.live(this.values, key)?.value ?? null);
  }

  async claim(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(this.values, key)) return false;
    await this.put(key, value, ttlMs);
    return true;
  }

  async delete(key: string): Promise<void> {
    this.values.delete(key);
    this.announce(key);
  }

  subscribe(listener: (key: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  private live(map: Map<string, Entry>, key: string): Entry | undefined {
    const entry = map.get(key);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= this.now()) {
      map.delete(key);
      return undefined;
    }
    return entry;
  }

  private store(map: Map<string, Entry>, key: string, entry: Entry): void {
    map.set(key, entry);
    if (map.size > SWEEP_AT) for (const name of [...map.keys()]) this.live(map, name);
  }

  private announce(key: string): void {
    if (this.listeners.size === 0) return;
    queueMicrotask(() => {
      for (const listener of this.listeners) listener(key);
    });
  }
}

/**
 * A local copy of the shared values under one key prefix, kept fresh from subscribe(): reads are synchronous and free
 * (the request path pays no round trip); a change by any replica is fetched once, then `onChange` is told. Reads of
 * keys never loaded return null until load() or a change brings them.
 */
export class SharedMirror {
  private readonly values = new Map<string, string>();
  private readonly unsubscribe: () => void;
  private readonly onChange: (key: string, value: string | null) => void;

  constructor(
    private readonly shared: SharedState,
    prefix: string,
    options: { readonly onChange?: (key: string, value: string | null) => void; readonly onError?: (error: Error) => void } = {},
  ) {
    this.onChange = options.onChange ?? (() => {});
    const onError = options.onError ?? (() => {});
    this.unsubscribe = shared.subscribe((key) => {
      if (key === RESYNC_ALL) this.load([...this.values.keys()]).catch(onError);
      else if (key.startsWith(prefix)) this.load([key]).catch(onError);
    });
  }

  /** The value last seen for a full key (prefix included), or null. */
  value(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  /** Every key under the prefix with a value held locally. */
  entries(): [string, string][] {
    return [...this.values.entries()];
  }

  /** Fetches these full keys now (start-up, or after a missed change). */
  async load(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const fetched = await this.shared.get(keys);
    for (const [index, key] of keys.entries()) this.set(key, fetched[index]);
  }

  /** Records a value this replica just wrote, before its announcement comes back. */
  set(key: string, value: string | null): void {
    if ((this.values.get(key) ?? null) === value) return;
    if (value === null) this.values.delete(key);
    else this.values.set(key, value);
    this.onChange(key, value);
  }

  close(): void {
    this.unsubscribe();
  }
}
