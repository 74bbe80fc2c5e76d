// The key pool's state in memory: every provider's keys with state, selection by strategy, and the marks that change them.
import type { DeclaredKey, KeyState, KeyStrategy, Provider } from '../upstream/provider.ts';

export interface KeyStats {
  requests: number;
  rateLimited: number;
  failures: number;
  spendMicros: number;
}

export interface PoolKey {
  readonly id: string;
  label: string;
  secret: string;
  source: string;
  addedAt: number | null;
  state: KeyState;
  cooldownUntil: number | null;
  lastErrorCode: number;
  lastErrorReason: string;
  lastErrorAt: number | null;
  /** When this replica last learnt the state (a mark, the file, a shared change): a shared change older than it is stale. */
  changedAt: number;
  /** What the provider last reported left on this key (most_headroom). */
  headroom: { requests: number | null; tokens: number | null } | null;
  /** Failed re-checks since the key died (its back-off doubles with each). */
  rechecks: number;
  readonly stats: KeyStats;
}

export interface PoolProvider {
  readonly name: string;
  /** The provider as routing sees it: its keys are every pool key (the secrets to mask in answers). */
  definition: Provider;
  activeKeyId: string | null;
  strategy: KeyStrategy;
  keys: PoolKey[];
  /** round_robin's position. */
  cursor: number;
}

export type Selection =
  | { readonly kind: 'key'; readonly key: PoolKey }
  | { readonly kind: 'cooling'; readonly retryAfterMs: number }
  | { readonly kind: 'none' };

export function poolKeyOf(declared: DeclaredKey, now: number): PoolKey {
  return {
    id: declared.id,
    label: declared.label,
    secret: declared.secret,
    source: declared.source,
    addedAt: declared.addedAt,
    state: declared.state,
    cooldownUntil: declared.cooldownUntil,
    lastErrorCode: declared.lastErrorCode,
    lastErrorReason: declared.lastErrorReason,
    lastErrorAt: declared.lastErrorAt,
    changedAt: now,
    headroom: null,
    rechecks: 0,
    stats: { requests: 0, rateLimited: 0, failures: 0, spendMicros: 0 },
  };
}

/** A provider's declared keys: its v2 list, or (a provider built by hand) its usable keys as ready ones. */
export function declaredKeysOf(provider: Provider): readonly DeclaredKey[] {
  if (provider.declaredKeys) return provider.declaredKeys;
  return provider.keys.map((key) => ({
    ...key,
    source: 'seed',
    state: 'ready',
    cooldownUntil: null,
    lastErrorCode: 0,
    lastErrorReason: '',
    lastErrorAt: null,
    addedAt: null,
  }));
}

export function poolProviderOf(provider: Provider, now: number): PoolProvider {
  const keys = declaredKeysOf(provider).map((key) => poolKeyOf(key, now));
  const pool: PoolProvider = {
    name: provider.name,
    definition: provider,
    activeKeyId: provider.activeKeyId ?? keys[0]?.id ?? null,
    strategy: provider.keyStrategy ?? 'active_first',
    keys,
    cursor: 0,
  };
  refreshDefinition(pool);
  return pool;
}

/** Rebuilds the provider routing sees after keys changed: every key's secret is masked in answers, whatever its state. */
export function refreshDefinition(pool: PoolProvider): void {
  const keys = pool.keys.map((key) => ({ id: key.id, label: key.label || key.id, secret: key.secret }));
  pool.definition = { ...pool.definition, keys, activeKeyId: pool.activeKeyId ?? undefined, keyStrategy: pool.strategy };
}

/** Whether the key may be sent now; an expired cooldown is flipped to ready (as cllama's SelectKey does). */
function usable(key: PoolKey, now: number): boolean {
  if (key.state === 'ready') return true;
  if (key.state === 'cooldown' && key.cooldownUntil !== null && key.cooldownUntil <= now) {
    key.state = 'ready';
    key.cooldownUntil = null;
    return true;
  }
  return false;
}

/**
 * Picks a key by the provider's strategy, skipping `tried`: active_first (cllama: the active key, else the first usable
 * in order), round_robin (the next usable after the last picked), most_headroom (the most remaining requests, then
 * tokens, the provider reported; a key never measured counts as full). Nothing usable: `cooling` with the time until
 * the first cooling key is back, else `none`.
 */
export function selectKey(pool: PoolProvider, now: number, tried: ReadonlySet<string> = EMPTY): Selection {
  if (pool.strategy === 'active_first') {
    // the common case without allocating: the active key usable, else the first usable one in order
    const active = pool.activeKeyId === null ? undefined : pool.keys.find((key) => key.id === pool.activeKeyId);
    if (active && !tried.has(active.id) && usable(active, now)) return { kind: 'key', key: active };
    const first = pool.keys.find((key) => !tried.has(key.id) && usable(key, now));
    if (first) return { kind: 'key', key: first };
  }
  const candidates = pool.keys.filter((key) => !tried.has(key.id) && usable(key, now));
  if (candidates.length > 0) return { kind: 'key', key: pick(pool, candidates) };
  const cooling = pool.keys.filter((key) => key.state === 'cooldown' && key.cooldownUntil !== null && !tried.has(key.id));
  if (cooling.length === 0) return { kind: 'none' };
  return { kind: 'cooling', retryAfterMs: Math.max(1, Math.min(...cooling.map((key) => key.cooldownUntil as number)) - now) };
}

const EMPTY: ReadonlySet<string> = new Set();

function pick(pool: PoolProvider, candidates: PoolKey[]): PoolKey {
  if (pool.strategy === 'round_robin') {
    const start = pool.cursor % pool.keys.length;
    for (let step = 0; step < pool.keys.length; step++) {
      const key = pool.keys[(start + step) % pool.keys.length];
      if (candidates.includes(key)) {
        pool.cursor = (pool.keys.indexOf(key) + 1) % pool.keys.length;
        return key;
      }
    }
  }
  const ordered = activeFirst(pool, candidates);
  if (pool.strategy !== 'most_headroom') return ordered[0];
  let best = ordered[0];
  for (const key of ordered) if (compareHeadroom(key, best) > 0) best = key;
  return best;
}

function activeFirst(pool: PoolProvider, candidates: PoolKey[]): PoolKey[] {
  const active = candidates.findIndex((key) => key.id === pool.activeKeyId);
  return active <= 0 ? candidates : [candidates[active], ...candidates.slice(0, active), ...candidates.slice(active + 1)];
}

/** > 0 when `a` has more headroom than `b`: remaining requests first, then tokens; unmeasured counts as unlimited. */
function compareHeadroom(a: PoolKey, b: PoolKey): number {
  const requests = (a.headroom?.requests ?? Number.POSITIVE_INFINITY) - (b.headroom?.requests ?? Number.POSITIVE_INFINITY);
  if (requests !== 0 && !Number.isNaN(requests)) return requests;
  const tokens = (a.headroom?.tokens ?? Number.POSITIVE_INFINITY) - (b.headroom?.tokens ?? Number.POSITIVE_INFINITY);
  return Number.isNaN(tokens) ? 0 : tokens;
}

/** The time until the first cooling key is back (ms, at least 1), or null when none is cooling. */
export function firstBackInMs(pool: PoolProvider, now: number): number | null {
  let first: number | null = null;
  for (const key of pool.keys) {
    if (key.state === 'cooldown' && key.cooldownUntil !== null && key.cooldownUntil > now)
      first = Math.min(first ?? Number.POSITIVE_INFINITY, key.cooldownUntil);
  }
  return first === null ? null : Math.max(1, first - now);
}

/** cllama's masking: trimmed; "" stays ""; 8 bytes or fewer: `****`; else the first 4 + `...` + the last 4. */
export function maskSecret(secret: string): string {
  const trimmed = secret.trim();
  if (trimmed === '') return '';
  if (Buffer.byteLength(trimmed) <= 8) return '****';
  return `${trimmed.slice(0, 4)}...${trimmed.slice(-4)}`;
}

/** RFC 3339 UTC to the second, as cllama writes times; "" for none. */
export function rfc3339(ms: number | null): string {
  return ms === null ? '' : new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
