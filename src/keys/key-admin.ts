// The operator's key operations (cllama's UI routes, the admin API, the CLI): add a provider or key, activate, disable, delete.
import { randomBytes } from 'node:crypto';
import { baseUrlProblem, keyProblem } from '../config/provider-values.ts';
import type { AuthScheme } from '../upstream/provider.ts';
import type { WireFormat } from '../protocol/wire-format.ts';
import type { KeyPools } from './key-pools.ts';
import { poolProviderOf, type PoolKey, type PoolProvider } from './pool.ts';

/** A refused operation: cllama's 400 message (never holding a secret). */
export class KeyAdminError extends Error {}

export interface AddProviderInput {
  readonly name?: string;
  readonly base_url?: string;
  readonly auth?: string;
  readonly api_format?: string;
  readonly key_label?: string;
  readonly secret?: string;
}

const hex8 = () => randomBytes(4).toString('hex');

/** cllama's POST /providers/add: its checks in its order, then a runtime provider with one ready key. */
export async function addProvider(pools: KeyPools, input: AddProviderInput): Promise<PoolProvider> {
  const name = (input.name ?? '').trim().toLowerCase();
  const baseUrl = (input.base_url ?? '').trim().replace(/\/+$/, '');
  if (!name) throw new KeyAdminError('name is required');
  if (name.includes('/')) throw new KeyAdminError('name must not contain "/"');
  if (baseUrlProblem(baseUrl) !== null || !new URL(baseUrl).host) throw new KeyAdminError('base_url must be a valid http or https URL with a non-empty host');
  const auth = (input.auth ?? '').trim();
  if (!['bearer', 'x-api-key', 'none'].includes(auth)) throw new KeyAdminError('auth must be one of: bearer, x-api-key, none');
  const apiFormat = (input.api_format ?? '').trim();
  if (!['openai', 'anthropic'].includes(apiFormat)) throw new KeyAdminError('api_format must be one of: openai, anthropic');
  const secret = (input.secret ?? '').trim();
  if (!secret) throw new KeyAdminError('secret is required');
  if (keyProblem(secret)) throw new KeyAdminError(`secret ${keyProblem(secret)}`);
  if (pools.get(name)) throw new KeyAdminError(`provider "${name}" already exists; use /keys/add to add keys to it`);
  const now = pools.now();
  const id = `runtime:${name}:${hex8()}`;
  const label = (input.key_label ?? '').trim() || 'primary';
  const declaredKeys = [
    {
      id,
      label,
      secret,
      source: 'runtime',
      state: 'ready' as const,
      cooldownUntil: null,
      lastErrorCode: 0,
      lastErrorReason: '',
      lastErrorAt: null,
      addedAt: now,
    },
  ];
  const pool = poolProviderOf(
    { name, baseUrl, auth: auth as AuthScheme, apiFormat: apiFormat as WireFormat, keys: [], source: 'runtime', activeKeyId: id, declaredKeys },
    now,
  );
  pools.install(pool);
  pools.emit(pool, pool.keys[0], { action: 'provider_added', reason: 'operator' });
  await saved(pools, () => pools.file?.markProvider(name));
  await pools.health.track(name, id);
  return pool;
}

/** cllama's POST /keys/add: a runtime key appended at the end (the active key unchanged). */
export async function addKey(pools: KeyPools, input: { provider?: string; label?: string; secret?: string }): Promise<PoolKey> {
  const providerName = (input.provider ?? '').trim();
  const secret = (input.secret ?? '').trim();
  if (!providerName || !secret) throw new KeyAdminError('provider and secret are required');
  const pool = pools.get(providerName.toLowerCase());
  if (!pool) throw new KeyAdminError(`unknown provider: ${JSON.stringify(providerName)}`);
  if (keyProblem(secret)) throw new KeyAdminError(`secret ${keyProblem(secret)}`);
  const now = pools.now();
  const key: PoolKey = {
    id: `runtime:${hex8()}`,
    label: (input.label ?? '').trim(),
    secret,
    source: 'runtime',
    addedAt: now,
    state: 'ready',
    cooldownUntil: null,
    lastErrorCode: 0,
    lastErrorReason: '',
    lastErrorAt: null,
    changedAt: now,
    headroom: null,
    rechecks: 0,
    stats: { requests: 0, rateLimited: 0, failures: 0, spendMicros: 0 },
  };
  pool.keys.push(key);
  pools.install(pool);
  pools.emit(pool, key, { action: 'added', reason: 'operator' });
  await saved(pools, () => pools.file?.markKey(pool.name, key.id));
  await pools.health.track(pool.name, key.id);
  return key;
}

export type KeyAction = 'activate' | 'disable' | 'delete';

/** cllama's /keys/activate (ready and active; revives a dead key), /keys/disable and /keys/delete. */
export async function changeKey(pools: KeyPools, input: { provider?: string; key_id?: string; action: KeyAction }): Promise<void> {
  const providerName = (input.provider ?? '').trim();
  const keyId = (input.key_id ?? '').trim();
  if (!providerName || !keyId) throw new KeyAdminError('provider and key_id are required');
  const pool = pools.get(providerName.toLowerCase());
  if (!pool) throw new KeyAdminError(`unknown provider: ${JSON.stringify(providerName)}`);
  const key = pool.keys.find((candidate) => candidate.id === keyId);
  if (!key) throw new KeyAdminError(`key ${JSON.stringify(keyId)} not found in provider ${JSON.stringify(providerName)}`);
  if (input.action === 'delete') {
    pool.keys = pool.keys.filter((candidate) => candidate !== key);
    if (pool.activeKeyId === key.id) pool.activeKeyId = null;
    pools.install(pool);
    pools.emit(pool, key, { action: 'deleted', reason: 'operator' });
    await saved(pools, () => {
      pools.file?.markDeleted(pool.name, key.id);
      pools.file?.markProvider(pool.name);
    });
    return;
  }
  const now = pools.now();
  if (input.action === 'activate') {
    const problem = keyProblem(key.secret);
    if (problem) throw new KeyAdminError(`key ${JSON.stringify(keyId)} cannot be sent: its secret ${problem}`);
    pools.setState(key, { state: 'ready', cooldownUntil: null }, now);
    pool.activeKeyId = key.id;
    key.rechecks = 0;
  } else {
    pools.setState(key, { state: 'disabled' }, now);
  }
  pools.scheduleRecheck(pool, key);
  pools.emit(pool, key, { action: input.action === 'activate' ? 'activated' : 'disabled', reason: 'operator' });
  await pools.health.publish(pool, key);
  await saved(pools, () => {
    pools.file?.markKey(pool.name, key.id);
    if (input.action === 'activate') pools.file?.markProvider(pool.name);
  });
}

/** Marks the change for the file and waits for it to be written (a failed write is a warning: cllama ignores it). */
async function saved(pools: KeyPools, mark: () => void): Promise<void> {
  mark();
  await pools.file?.flush();
}
