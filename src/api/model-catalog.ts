// The models an agent may call, for GET /v1/models: each provider's own list (fetched, cached), else the price table's.
import type { Agent } from '../auth/agent.ts';
import type { ParsedModelPolicy } from '../upstream/model-policy.ts';
import { priceTableModels } from '../pricing/table-models.ts';
import type { KeyPools } from '../keys/key-pools.ts';
import { sendWithKeys } from '../pipeline/key-attempts.ts';
import { CallCancel, type UpstreamClient } from '../upstream/client.ts';
import { credential } from '../upstream/headers.ts';
import type { Provider } from '../upstream/provider.ts';
import type { ProviderRegistry } from '../upstream/registry.ts';

/** How long a provider's list is kept; a failed fetch is retried sooner. */
const LIST_TTL_MS = 10 * 60_000;
const FAILED_TTL_MS = 60_000;
/** A model list is small; a provider answering more is cut off there. */
const MAX_LIST_BYTES = 4 * 1024 * 1024;
const ANTHROPIC_VERSION = '2023-06-01';

/**
 * The `provider/model` ids an agent may call, or null when no model policy applies to it (then the configured
 * providers' models are listed).
 */
export type ModelAllowList = (agent: Agent) => readonly string[] | null;

/**
 * The allow list of the model policy in force for the agent (governance file, else metadata; cllama: active when
 * `allowed` has an entry), each ref once, in its order. An invalid policy refuses every call: it lists nothing.
 */
export function modelPolicyAllowList(policies: { effective(agent: Agent): ParsedModelPolicy }): ModelAllowList {
  return (agent) => {
    const parsed = policies.effective(agent);
    if (parsed.kind === 'invalid') return [];
    if (parsed.kind === 'none' || parsed.policy.allowed.length === 0) return null;
    return [...new Set(parsed.policy.allowed.map((model) => model.ref))];
  };
}

export interface ModelCatalogInput {
  readonly providers: ProviderRegistry;
  readonly upstream: UpstreamClient;
  /** The providers' key pools: a list is fetched with the key the pool picks, and a refused key is judged as on a call. */
  readonly keys: KeyPools;
  /** Bound on one provider's list fetch (headers and body). */
  readonly timeoutMs: number;
  readonly allowList?: ModelAllowList;
  readonly now?: () => number;
}

interface CachedList {
  readonly ids: readonly string[];
  readonly until: number;
}

export class ModelCatalog {
  readonly #input: ModelCatalogInput;
  readonly #cache = new Map<string, CachedList>();
  readonly #pending = new Map<string, Promise<readonly string[]>>();

  constructor(input: ModelCatalogInput) {
    this.#input = input;
  }

  /** The agent's models as it sends them (`provider/model`): the allow list when a policy gives one, else every provider's. */
  async modelsFor(agent: Agent): Promise<string[]> {
    const allowed = this.#input.allowList?.(agent);
    if (allowed) return [...allowed];
    const usable = this.#input.providers.list().filter((provider) => provider.auth === 'none' || provider.keys.length > 0);
    const lists = await Promise.all(usable.map((provider) => this.#providerModels(provider)));
    return usable.flatMap((provider, i) => lists[i].map((model) => `${provider.name}/${model}`));
  }

  #providerModels(provider: Provider): Promise<readonly string[]> {
    const now = (this.#input.now ?? Date.now)();
    const cached = this.#cache.get(provider.name);
    if (cached && cached.until > now) return Promise.resolve(cached.ids);
    let pending = this.#pending.get(provider.name);
    if (!pending) {
      pending = this.#fetch(provider)
        .then((ids) => this.#keep(provider.name, ids, now + LIST_TTL_MS))
        .catch(() => this.#keep(provider.name, priceTableModels(provider.name), now + FAILED_TTL_MS))
        .finally(() => this.#pending.delete(provider.name));
      this.#pending.set(provider.name, pending);
    }
    return pending;
  }

  #keep(name: string, ids: readonly string[], until: number): readonly string[] {
    this.#cache.set(name, { ids, until });
    return ids;
  }

  /** GET <base>/models with the provider's credential; the ids of its `data` (OpenAI's and Anthropic's shape alike). */
  async #fetch(provider: Provider): Promise<readonly string[]> {
    const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'identity' };
    if (provider.apiFormat === 'anthropic') headers['anthropic-version'] = ANTHROPIC_VERSION;
    const cancel = new CallCancel();
    const timer = setTimeout(() => cancel.abort(new Error('model list timed out')), this.#input.timeoutMs);
    try {
      const query = provider.apiFormat === 'anthropic' ? '?limit=1000' : ''; // Anthropic pages its list (20 by default)
      const { upstream: answer } = await sendWithKeys({
        pools: this.#input.keys,
        provider,
        requestId: `models:${provider.name}`,
        cancel,
        send: (key) =>
          this.#input.upstream.send({
            url: `${provider.baseUrl}/models${query}`,
            method: 'GET',
            headers: key ? { ...headers, ...credential(provider, key) } : headers,
            body: null,
            cancel,
            headersTimeoutMs: this.#input.timeoutMs,
          }),
      });
      const raw = await answer.body.bytes({ maxBytes: MAX_LIST_BYTES });
      if (answer.statusCode !== 200) throw new Error(`model list answered ${answer.statusCode}`);
      const parsed = JSON.parse(raw.toString('utf8')) as { data?: unknown };
      if (!Array.isArray(parsed.data)) throw new Error('model list without data');
      const ids = parsed.data.map((model) => (model as { id?: unknown })?.id).filter((id): id is string => typeof id === 'string' && id !== '');
      return [...new Set(ids)].sort();
    } finally {
      clearTimeout(timer);
    }
  }
}
