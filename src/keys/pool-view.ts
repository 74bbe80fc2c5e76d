// What operators see of the pools, never a secret: the admin API's rows, cllama's /events providers, the metric families.
import type { Family, Series } from '../observability/exposition.ts';
import { maskKeysInText } from '../upstream/key-mask.ts';
import { maskSecret, rfc3339, type PoolKey, type PoolProvider } from './pool.ts';

const STATES = ['ready', 'cooldown', 'dead', 'disabled'] as const;

/** cllama's maskedKey: the active key's masked secret whatever its state, else the first ready key's, else "". */
function maskedActive(pool: PoolProvider): string {
  const key = pool.keys.find((candidate) => candidate.id === pool.activeKeyId) ?? pool.keys.find((candidate) => candidate.state === 'ready');
  return key ? maskSecret(key.secret) : '';
}

/** A key id fit to show: an operator could have put a secret in it (masked), and it is bounded. */
export function shownKeyId(pool: PoolProvider, key: PoolKey): string {
  return maskKeysInText(key.id, pool.definition.keys).slice(0, 120);
}

/** The admin API's providers (GET /api/providers, the dashboard panel, `tollgate keys list`). */
export function providerRows(pools: readonly PoolProvider[], now: number): Record<string, unknown>[] {
  return pools.map((pool) => providerRow(pool, now));
}

function providerRow(pool: PoolProvider, now: number): Record<string, unknown> {
  const active = pool.keys.find((key) => key.id === pool.activeKeyId);
  return {
    name: pool.name,
    base_url: pool.definition.baseUrl,
    auth: pool.definition.auth,
    api_format: pool.definition.apiFormat,
    key_strategy: pool.strategy,
    active_key_id: active ? shownKeyId(pool, active) : null,
    masked_key: maskedActive(pool),
    counts: Object.fromEntries(STATES.map((state) => [state, pool.keys.filter((key) => key.state === state).length])),
    keys: pool.keys.map((key) => ({
      id: shownKeyId(pool, key),
      label: key.label,
      source: key.source,
      state: key.state === 'cooldown' && key.cooldownUntil !== null && key.cooldownUntil <= now ? 'ready' : key.state,
      masked_secret: maskSecret(key.secret),
      cooldown_until: key.state === 'cooldown' ? rfc3339(key.cooldownUntil) : null,
      cooldown_remaining_ms: key.state === 'cooldown' && key.cooldownUntil !== null ? Math.max(0, key.cooldownUntil - now) : null,
      last_error_code: key.lastErrorCode || null,
      last_error_reason: key.lastErrorReason || null,
      last_error_at: key.lastErrorAt === null ? null : rfc3339(key.lastErrorAt),
      added_at: key.addedAt === null ? null : rfc3339(key.addedAt),
      requests: key.stats.requests,
      rate_limited: key.stats.rateLimited,
      failures: key.stats.failures,
      spend_micros: key.stats.spendMicros,
      spend_usd: key.stats.spendMicros / 1e6,
      headroom: key.headroom,
    })),
  };
}

/** cllama's `/events` `providers[]` (buildDashboardState), camelCase, in its field order. */
export function cllamaProviders(pools: readonly PoolProvider[]): Record<string, unknown>[] {
  return pools.map((pool) => ({
    name: pool.name,
    baseURL: pool.definition.baseUrl,
    auth: pool.definition.auth,
    maskedKey: maskedActive(pool),
    activeKeyID: pool.activeKeyId ?? '',
    readyCount: pool.keys.filter((key) => key.state === 'ready').length,
    cooldownCount: pool.keys.filter((key) => key.state === 'cooldown').length,
    deadCount: pool.keys.filter((key) => key.state === 'dead').length,
    keys:
      pool.keys.length === 0
        ? null
        : pool.keys.map((key) => ({
            id: shownKeyId(pool, key),
            label: key.label,
            source: key.source,
            state: key.state,
            cooldownUntil: key.state === 'cooldown' ? rfc3339(key.cooldownUntil) : '',
            lastErrorCode: key.lastErrorCode,
            lastErrorAt: rfc3339(key.lastErrorAt),
            maskedSecret: maskSecret(key.secret),
          })),
  }));
}

/** Per provider and key id: calls sent, 429s, and the state (1 for the key's current one). */
export function poolFamilies(pools: readonly PoolProvider[]): Family[] {
  const each = (value: (key: PoolKey) => number): Series[] =>
    pools.flatMap((pool) => pool.keys.map((key) => ({ labels: [pool.name, shownKeyId(pool, key)], value: value(key) })));
  const states: Series[] = pools.flatMap((pool) =>
    pool.keys.flatMap((key) => STATES.map((state) => ({ labels: [pool.name, shownKeyId(pool, key), state], value: key.state === state ? 1 : 0 }))),
  );
  return [
    {
      name: 'tollgate_provider_key_requests_total',
      help: 'Calls sent with a provider key and not refused for the key, by provider and key id.',
      type: 'counter',
      labelNames: ['provider', 'key_id'],
      series: each((key) => key.stats.requests),
    },
    {
      name: 'tollgate_provider_key_rate_limited_total',
      help: '429s (rate limits, not quota) a provider key got, by provider and key id.',
      type: 'counter',
      labelNames: ['provider', 'key_id'],
      series: each((key) => key.stats.rateLimited),
    },
    {
      name: 'tollgate_provider_key_state',
      help: "A provider key's state: 1 for the current one (ready, cooldown, dead, disabled).",
      type: 'gauge',
      labelNames: ['provider', 'key_id', 'state'],
      series: states,
    },
  ];
}
