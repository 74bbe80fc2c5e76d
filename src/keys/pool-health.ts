// Key health shared by replicas: each mark published in the shared ledger, others' marks applied from a local mirror.
import { SharedMirror, type SharedState } from '../ledger/shared-state.ts';
import type { KeyState } from '../upstream/provider.ts';
import type { PoolKey, PoolProvider } from './pool.ts';

/** One key's state as replicas share it; `at` orders it against what a replica already knows. */
export interface HealthRecord {
  readonly state: KeyState;
  readonly until: number | null;
  readonly code: number;
  readonly reason: string;
  readonly at: number;
}

const PREFIX = 'pool:';
/** How long a dead, ready or disabled mark stays shared (the file keeps it after); a cooldown stays until it ends. */
const KEEP_MS = 24 * 60 * 60 * 1000;

interface PoolsView {
  list(): PoolProvider[];
  applyRemote(input: { provider: string; keyId: string; record: HealthRecord }): void;
  readonly now: () => number;
}

export function healthKey(provider: string, keyId: string): string {
  return `${PREFIX}${JSON.stringify([provider, keyId])}`;
}

export class PoolHealth {
  readonly #shared: SharedState;
  readonly #pools: PoolsView;
  readonly #mirror: SharedMirror;
  readonly #onWarning: (message: string) => void;

  constructor(options: { shared: SharedState; pools: PoolsView; onWarning: (message: string) => void }) {
    this.#shared = options.shared;
    this.#pools = options.pools;
    this.#onWarning = options.onWarning;
    this.#mirror = new SharedMirror(options.shared, PREFIX, {
      onChange: (key, value) => this.#apply(key, value),
      onError: (error) => this.#onWarning(`key pool: reading shared key health failed: ${error.message}`),
    });
  }

  /** Reads what the replicas already know of every key (one round trip at start). */
  async start(): Promise<void> {
    await this.#mirror.load(this.#pools.list().flatMap((pool) => pool.keys.map((key) => healthKey(pool.name, key.id))));
  }

  /** Loads a key added after start. */
  async track(provider: string, keyId: string): Promise<void> {
    await this.#mirror.load([healthKey(provider, keyId)]).catch(() => {});
  }

  /** Publishes this replica's mark; a shared ledger that cannot be reached leaves it local (a warning says so). */
  async publish(pool: PoolProvider, key: PoolKey): Promise<void> {
    const record: HealthRecord = { state: key.state, until: key.cooldownUntil, code: key.lastErrorCode, reason: key.lastErrorReason, at: key.changedAt };
    const name = healthKey(pool.name, key.id);
    const ttl = key.state === 'cooldown' && key.cooldownUntil !== null ? Math.max(1, key.cooldownUntil - this.#pools.now()) + 1000 : KEEP_MS;
    const value = JSON.stringify(record);
    this.#mirror.set(name, value); // known here already: its announcement changes nothing
    try {
      await this.#shared.put(name, value, ttl);
    } catch (error) {
      this.#onWarning(`key pool: sharing the state of ${pool.name} key ${key.id} failed (other replicas learn it later): ${(error as Error).message}`);
    }
  }

  close(): void {
    this.#mirror.close();
  }

  #apply(name: string, value: string | null): void {
    if (value === null) return; // expired or never set: what this replica knows stands
    let ids: unknown;
    let record: HealthRecord;
    try {
      ids = JSON.parse(name.slice(PREFIX.length));
      record = JSON.parse(value) as HealthRecord;
    } catch {
      return;
    }
    if (!Array.isArray(ids) || typeof ids[0] !== 'string' || typeof ids[1] !== 'string' || typeof record?.at !== 'number') return;
    this.#pools.applyRemote({ provider: ids[0], keyId: ids[1], record });
  }
}
