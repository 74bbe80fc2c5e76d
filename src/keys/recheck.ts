// Dead keys get a second chance: after a back-off one replica asks the provider's model list with the key, and revives it if answered.
import type { SharedState } from '../ledger/shared-state.ts';
import type { PoolKey, PoolProvider } from './pool.ts';

/** The longest wait between two re-checks of a key. */
const MAX_BACKOFF_MS = 60 * 60 * 1000;
const CHECK_TIMEOUT_MS = 10_000;
/** Deaths a re-check can undo: refused credentials and exhausted quota; a key disabled by an operator stays so. */
const RECHECKED = /^http_(401|402|403|429)$/;

interface PoolsView {
  readonly now: () => number;
  revive(pool: PoolProvider, key: PoolKey, reason: string): Promise<void>;
  readonly warn: (message: string) => void;
}

export class Rechecker {
  readonly #timers = new Map<PoolKey, NodeJS.Timeout>();
  readonly #pools: PoolsView;
  readonly #shared: SharedState;
  readonly #baseMs: number;
  readonly #fetch: typeof fetch;
  #closed = false;

  constructor(options: { pools: PoolsView; shared: SharedState; baseMs: number; fetch?: typeof fetch }) {
    this.#pools = options.pools;
    this.#shared = options.shared;
    this.#baseMs = options.baseMs;
    this.#fetch = options.fetch ?? fetch;
  }

  /** (Re)schedules the key's re-check if it is dead from an upstream refusal; cancels it otherwise. */
  schedule(pool: PoolProvider, key: PoolKey, at?: number): void {
    const pending = this.#timers.get(key);
    if (pending) clearTimeout(pending);
    this.#timers.delete(key);
    if (this.#closed || key.state !== 'dead' || !RECHECKED.test(key.lastErrorReason) || this.#baseMs <= 0) return;
    const backoff = this.#backoff(key);
    const due = at ?? (key.lastErrorAt ?? this.#pools.now()) + backoff;
    const timer = setTimeout(() => void this.#check(pool, key, backoff), Math.max(0, due - this.#pools.now()));
    timer.unref();
    this.#timers.set(key, timer);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #backoff(key: PoolKey): number {
    return Math.min(MAX_BACKOFF_MS, this.#baseMs * 2 ** Math.min(20, key.rechecks));
  }

  async #check(pool: PoolProvider, key: PoolKey, backoff: number): Promise<void> {
    this.#timers.delete(key);
    if (this.#closed || key.state !== 'dead') return;
    let won = true;
    try {
      // one replica checks; the others learn the outcome through the shared ledger
      won = await this.#shared.claim(`recheck:${JSON.stringify([pool.name, key.id])}`, String(process.pid), backoff);
    } catch {
      // the shared ledger is down: check from here
    }
    if (!won) return this.#again(pool, key);
    let status = 0;
    try {
      const response = await this.#fetch(`${pool.definition.baseUrl}/models`, {
        headers: authHeaders(pool, key),
        signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
        redirect: 'manual',
      });
      status = response.status;
      await response.body?.cancel();
    } catch {
      status = 0;
    }
    if (this.#closed || key.state !== 'dead') return;
    if (status >= 200 && status < 300) return this.#pools.revive(pool, key, `recheck_http_${status}`);
    this.#again(pool, key);
  }

  #again(pool: PoolProvider, key: PoolKey): void {
    key.rechecks++;
    this.schedule(pool, key, this.#pools.now() + this.#backoff(key));
  }
}

/** The provider's credential on the model list call, as on a chat call. */
function authHeaders(pool: PoolProvider, key: PoolKey): Record<string, string> {
  const auth = pool.definition.auth;
  if (auth === 'x-api-key') return { 'x-api-key': key.secret, 'anthropic-version': '2023-06-01' };
  if (auth === 'none') return {};
  return { authorization: `Bearer ${key.secret}` };
}
