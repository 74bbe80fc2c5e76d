// cllama's providers.json v2 shape: a key and a provider as it writes them (field order, omissions), and v1 converted to it.
import { builtinProvider, defaultApiFormat, defaultAuth } from '../config/builtin-providers.ts';
import { rfc3339, type PoolKey, type PoolProvider } from './pool.ts';

export type RawKey = Record<string, unknown> & { id?: unknown };
export type RawProvider = Record<string, unknown> & { keys?: RawKey[]; active_key_id?: unknown; key_strategy?: unknown };
export interface RawDocument {
  version?: unknown;
  providers: Record<string, RawProvider>;
  [field: string]: unknown;
}

const PROVIDER_FIELDS = ['base_url', 'auth', 'api_format', 'active_key_id', 'source', 'keys'];
const KEY_FIELDS = ['id', 'label', 'secret', 'source', 'state', 'cooldown_until', 'last_error_code', 'last_error_reason', 'last_error_at', 'added_at'];

/** A key as cllama writes it (`label` omitted when empty); secrets in plain text, as cllama (the file is 0600). */
export function renderKey(key: PoolKey): RawKey {
  const out: RawKey = { id: key.id };
  if (key.label) out.label = key.label;
  out.secret = key.secret;
  out.source = key.source;
  out.state = key.state;
  out.cooldown_until = key.state === 'cooldown' ? rfc3339(key.cooldownUntil === null ? null : Math.ceil(key.cooldownUntil / 1000) * 1000) : '';
  out.last_error_code = key.lastErrorCode;
  out.last_error_reason = key.lastErrorReason;
  out.last_error_at = rfc3339(key.lastErrorAt);
  out.added_at = rfc3339(key.addedAt);
  return out;
}

/** A whole provider (one the file lacks: env-seeded, or added from the UI). */
export function renderProvider(pool: PoolProvider): RawProvider {
  const { definition } = pool;
  const out: RawProvider = { base_url: definition.baseUrl, auth: definition.auth, api_format: definition.apiFormat };
  if (pool.activeKeyId) out.active_key_id = pool.activeKeyId;
  if (definition.source) out.source = definition.source;
  out.keys = pool.keys.map(renderKey);
  if (definition.forwardHeaders) out.forward_headers = [...definition.forwardHeaders];
  if (pool.strategy !== 'active_first') out.key_strategy = pool.strategy;
  return out;
}

/** The parsed file as v2: a v1 provider's `api_key` becomes its one seeded key (cllama's id and label), defaults filled. */
export function toV2(raw: RawDocument, now: number): RawDocument {
  const providers = raw && typeof raw.providers === 'object' && raw.providers !== null ? raw.providers : {};
  const v1 = typeof raw?.version !== 'number' || raw.version < 2;
  const out: RawDocument = { ...raw, version: 2, providers: {} };
  for (const [name, entry] of Object.entries(providers)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const provider: RawProvider = { ...entry };
    const lower = name.trim().toLowerCase();
    provider.base_url ??= builtinProvider(lower)?.baseUrl;
    provider.auth ??= defaultAuth(lower);
    provider.api_format ??= defaultApiFormat(lower);
    if (v1) {
      const secret = typeof provider.api_key === 'string' ? provider.api_key.trim() : '';
      delete provider.api_key;
      const id = `seed:${lower === 'google' ? 'GOOGLE' : lower.toUpperCase()}_API_KEY`;
      provider.keys = secret
        ? [
            {
              id,
              label: 'primary',
              secret,
              source: 'seed',
              state: 'ready',
              cooldown_until: '',
              last_error_code: 0,
              last_error_reason: '',
              last_error_at: '',
              added_at: rfc3339(now),
            },
          ]
        : [];
      if (secret) provider.active_key_id = id;
      provider.source ??= 'seed';
    }
    if (!Array.isArray(provider.keys)) provider.keys = [];
    out.providers[name] = provider;
  }
  return out;
}

/** cllama's order: version, then providers sorted by name, each provider's and key's fields in its order (others after). */
export function orderedDocument(doc: RawDocument): RawDocument {
  const providers: Record<string, RawProvider> = {};
  for (const name of Object.keys(doc.providers).sort()) {
    const entry = ordered(doc.providers[name], PROVIDER_FIELDS) as RawProvider;
    entry.keys = (Array.isArray(entry.keys) ? entry.keys : []).map((key) => (typeof key === 'object' && key !== null ? ordered(key, KEY_FIELDS) : key));
    providers[name] = entry;
  }
  const { version: _version, providers: _providers, ...rest } = doc;
  return { version: 2, providers, ...rest };
}

function ordered(entry: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) if (entry[field] !== undefined) out[field] = entry[field];
  for (const [field, value] of Object.entries(entry)) if (!(field in out) && value !== undefined) out[field] = value;
  return out;
}
