// The provider key pools at work: selection for a call, marks from upstream answers, shared health, persistence, re-checks.
import type { SharedState } from '../ledger/shared-state.ts';
import type { EventBus } from '../observability/events.ts';
import type { ProviderPoolEvent } from '../observability/event-types.ts';
import type { Provider } from '../upstream/provider.ts';
import type { ProviderRegistry } from '../upstream/registry.ts';
import { PoolHealth, type HealthRecord } from './pool-health.ts';
import { PoolFile } from './pool-file.ts';
import { firstBackInMs, maskSecret, poolProviderOf, refreshDefinition, rfc3339, selectKey, type PoolKey, type PoolProvider, type Selection } from './pool.ts';
import { headroomFromHeaders, judgeAnswer, type KeyVerdict } from './rate-signals.ts';
import { Rechecker } from './recheck.ts';

export interface KeyPoolsOptions {
  readonly providers: readonly Provider[];
  /** The routing registry: providers added or changed here are put in it. */
  readonly registry: ProviderRegistry;
  readonly bus: EventBus;
  readonly shared: SharedState;
  /** providers.json to write key state back to (and watch); null: nothing persisted. */
  readonly file: string | null;
  /** First back-off before a dead key is re-checked (doubles with each failed check, at most an hour). */
  readonly recheckMs: number;
  /** Provider secrets added at run time, so logs mask them too. */
  readonly onSecret?: (secret: string) => void;
  readonly onWarning?: (message: string) => void;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
}

type Headers = Record<string, string | string[] | undefined>;

/** Call ids whose spend is charged to the key that answered them, until their outcome event (bounded). */
const MAX_PENDING_SPEND = 10_000;

export class KeyPools {
  readonly #pools = new Map<string, PoolProvider>();
  readonly #options: KeyPoolsOptions;
  readonly now: () => number;
  readonly health: PoolHealth;
  readonly file: PoolFile | null;
  readonly #recheck: Rechecker;
  readonly #spendOf = new Map<string, PoolKey>();
  #unsubscribe: (() => void) | null = null;

  constructor(options: KeyPoolsOptions) {
    this.#options = options;
    this.now = options.now ?? Date.now;
    this.health = new PoolHealth({ shared: options.shared, pools: this, onWarning: this.warn });
    this.file = options.file ? new PoolFile({ file: options.file, pools: this, onWarning: this.warn }) : null;
    this.#recheck = new Rechecker({ pools: this, shared: options.shared, baseMs: options.recheckMs, fetch: options.fetch });
    for (const provider of options.providers) this.install(poolProviderOf(provider, this.now()));
  }

  /** Loads what other replicas know, watches the file, schedules re-checks of dead keys, and counts spend per key. */
  async start(): Promise<void> {
    await this.health.start().catch((error: Error) => this.warn(`key pool: shared key health unavailable at start: ${error.message}`));
    this.file?.watch();
    for (const pool of this.#pools.values()) for (const key of pool.keys) this.#recheck.schedule(pool, key);
    this.#unsubscribe = this.#options.bus.subscribe((event) => {
      if (event.type !== 'response' && event.type !== 'error') return;
      const key = this.#spendOf.get(event.request_id ?? '');
      if (!key) return;
      this.#spendOf.delete(event.request_id ?? '');
      key.stats.spendMicros += event.cost_micros ?? 0;
      if (event.type === 'error') key.stats.failures++;
    });
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    this.#recheck.close();
    this.health.close();
    await this.file?.close();
  }

  get(name: string): PoolProvider | undefined {
    return this.#pools.get(name.toLowerCase());
  }

  list(): PoolProvider[] {
    return [...this.#pools.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A key for one attempt of a call to this provider (no I/O: local state, kept fresh from the shared ledger). */
  select(provider: string, tried?: ReadonlySet<string>): Selection {
    const pool = this.get(provider);
    return pool ? selectKey(pool, this.now(), tried) : { kind: 'none' };
  }

  firstBackInMs(provider: string): number | null {
    const pool = this.get(provider);
    return pool ? firstBackInMs(pool, this.now()) : null;
  }

  /** Counts a call sent with the key; its spend is added when the call's outcome event comes. */
  noteSent(input: { pool: PoolProvider; key: PoolKey; requestId: string }): void {
    input.key.stats.requests++;
    if (this.#spendOf.size >= MAX_PENDING_SPEND) this.#spendOf.delete(this.#spendOf.keys().next().value as string);
    this.#spendOf.set(input.requestId, input.key);
  }

  /** What the provider reported left on the key with an answer it did not refuse (most_headroom reads it). */
  noteHeadroom(key: PoolKey, headers: Headers): void {
    const headroom = headroomFromHeaders(headers);
    if (headroom) key.headroom = headroom;
  }

  /**
   * Judges a refused answer (401/402/403/429, its body's first bytes) and marks the key: dead, or cooling for what the
   * provider asked. Waits for the shared ledger to hear it (other replicas then skip the key); returns the verdict.
   */
  async judge(input: { pool: PoolProvider; key: PoolKey; status: number; headers: Headers; bodyHead: string }): Promise<KeyVerdict | null> {
    const now = this.now();
    const verdict = judgeAnswer({ status: input.status, headers: input.headers, bodyHead: input.bodyHead, now });
    if (!verdict) return null;
    const { pool, key } = input;
    if (verdict.kind === 'cooldown') key.stats.rateLimited++;
    if (verdict.kind === 'dead') {
      this.setState(key, { state: 'dead', cooldownUntil: null, lastErrorCode: verdict.code, lastErrorReason: verdict.reason, lastErrorAt: now }, now);
      this.emit(pool, key, { action: 'dead', reason: verdict.reason, status_code: verdict.code });
      this.#recheck.schedule(pool, key);
    } else {
      const until = now + verdict.ms;
      this.setState(key, { state: 'cooldown', cooldownUntil: until, lastErrorReason: 'rate_limit', lastErrorAt: now }, now);
      this.emit(pool, key, {
        action: 'cooldown',
        reason: 'rate_limit',
        cooldown_until: rfc3339(until),
        status_code: 429,
        retry_after_ms: verdict.ms,
        cooldown_source: verdict.source,
      });
    }
    this.file?.markKey(pool.name, key.id);
    await this.health.publish(pool, key);
    await this.#poolCoolingCheck(pool);
    return verdict;
  }

  /** A dead key that answered its re-check is ready again (here, in the file, and for every replica). */
  async revive(pool: PoolProvider, key: PoolKey, reason: string): Promise<void> {
    const now = this.now();
    this.setState(key, { state: 'ready', cooldownUntil: null }, now);
    key.rechecks = 0;
    this.emit(pool, key, { action: 'revived', reason });
    this.file?.markKey(pool.name, key.id);
    await this.health.publish(pool, key);
  }

  /** A state another replica published (newer than what this one knows), or a key state the file changed. */
  applyRemote(input: { provider: string; keyId: string; record: HealthRecord }): void {
    const pool = this.get(input.provider);
    const key = pool?.keys.find((candidate) => candidate.id === input.keyId);
    const { record } = input;
    if (!pool || !key || record.at <= key.changedAt) return;
    const before = key.state;
    this.setState(
      key,
      { state: record.state, cooldownUntil: record.until, lastErrorCode: record.code, lastErrorReason: record.reason, lastErrorAt: record.at },
      record.at,
    );
    if (before === key.state) return;
    const action = key.state === 'dead' ? 'dead' : key.state === 'cooldown' ? 'cooldown' : key.state === 'disabled' ? 'disabled' : 'revived';
    this.emit(pool, key, { action, reason: record.reason || 'remote', replica: 'remote', ...(record.until ? { cooldown_until: rfc3339(record.until) } : {}) });
    this.#recheck.schedule(pool, key);
  }

  setState(key: PoolKey, fields: Partial<Pick<PoolKey, 'state' | 'cooldownUntil' | 'lastErrorCode' | 'lastErrorReason' | 'lastErrorAt'>>, at: number): void {
    Object.assign(key, fields);
    key.changedAt = Math.max(at, key.changedAt + 1);
  }

  /** Puts a provider (new, or with changed keys) in the pool and the routing registry. */
  install(pool: PoolProvider): void {
    refreshDefinition(pool);
    this.#pools.set(pool.name, pool);
    this.#options.registry.set(pool.definition);
    for (const key of pool.keys) this.#options.onSecret?.(key.secret);
  }

  /** Removes a provider the file no longer declares. */
  uninstall(name: string): void {
    this.#pools.delete(name);
    this.#options.registry.delete(name);
  }

  scheduleRecheck(pool: PoolProvider, key: PoolKey): void {
    this.#recheck.schedule(pool, key);
  }

  emit(pool: PoolProvider, key: PoolKey | null, fields: Pick<ProviderPoolEvent, 'action' | 'reason'> & Partial<ProviderPoolEvent>): void {
    this.#options.bus.emit({
      type: 'provider_pool',
      claw_id: null,
      model: null,
      intervention: null,
      provider: pool.name,
      key_id: key?.id ?? null,
      ...fields,
      ...(key ? { masked_key: maskSecret(key.secret) } : {}),
    });
  }

  readonly warn = (message: string): void => {
    if (this.#options.onWarning) this.#options.onWarning(message);
    else this.#options.bus.emit({ type: 'warning', claw_id: null, model: null, intervention: null, error: message });
  };

  /** Every usable key cooling: one `pool_cooling` event (alerts), with the time until the first is back. */
  async #poolCoolingCheck(pool: PoolProvider): Promise<void> {
    const selection = selectKey(pool, this.now());
    if (selection.kind !== 'cooling') return;
    // one replica reports a cooling pool (and its alert) per cooling spell
    const won = await this.#options.shared.claim(`alert:pool_cooling:${pool.name}`, String(process.pid), selection.retryAfterMs).catch(() => true);
    if (won) this.emit(pool, null, { action: 'pool_cooling', reason: 'all declared provider keys in cooldown', retry_after_ms: selection.retryAfterMs });
  }
}
