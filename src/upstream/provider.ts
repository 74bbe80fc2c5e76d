// Provider and route types shared by the registry, the router and the upstream client.
import type { WireFormat } from '../protocol/wire-format.ts';
export type AuthScheme = 'bearer' | 'x-api-key' | 'none';

export interface ProviderKey {
  readonly id: string;
  readonly label: string;
  /** The real provider credential. Never logged, never rendered in an error. */
  readonly secret: string;
}

/** A pool key's state, as cllama's providers.json v2 writes it. */
export type KeyState = 'ready' | 'cooldown' | 'dead' | 'disabled';
/** How a provider's pool picks a key (tollgate's `key_strategy`; cllama: always active_first). */
export type KeyStrategy = 'active_first' | 'round_robin' | 'most_headroom';

/** A key as declared (providers.json v1/v2, env), whatever its state: the pool's starting point. */
export interface DeclaredKey extends ProviderKey {
  /** `seed` (env, v1 file) or `runtime` (added from the UI), or what the file says. */
  readonly source: string;
  readonly state: KeyState;
  /** Epoch ms the cooldown ends; null: none (a cooldown without it never ends by itself, as cllama). */
  readonly cooldownUntil: number | null;
  readonly lastErrorCode: number;
  readonly lastErrorReason: string;
  /** Epoch ms, or null. */
  readonly lastErrorAt: number | null;
  /** Epoch ms, or null. */
  readonly addedAt: number | null;
}

export interface Provider {
  /** Lower-case provider name: openai, anthropic, openrouter, xai, google, ollama, vercel, or operator-defined. */
  readonly name: string;
  /** Base URL including its version segment, e.g. https://api.openai.com/v1 (no trailing slash). */
  readonly baseUrl: string;
  readonly auth: AuthScheme;
  readonly apiFormat: WireFormat;
  /** Usable keys in priority order (the first is used). */
  readonly keys: readonly ProviderKey[];
  /**
   * Agent request headers forwarded to this provider (lower-case names, `prefix*`): providers.json `forward_headers`,
   * else TOLLGATE_FORWARD_HEADERS; absent: DEFAULT_FORWARD_HEADERS (upstream/forward-headers.ts).
   */
  readonly forwardHeaders?: readonly string[];
  /** Every declared key in file (or env) order, with its state: the key pool starts from these (src/keys/). */
  readonly declaredKeys?: readonly DeclaredKey[];
  /** providers.json `active_key_id`. */
  readonly activeKeyId?: string;
  /** providers.json provider `source` (`seed` for env-seeded ones). */
  readonly source?: string;
  /** providers.json `key_strategy` (default active_first). */
  readonly keyStrategy?: KeyStrategy;
}

/** Where one request goes: the outcome of routing a model string. */
export interface Route {
  readonly provider: Provider;
  /** The model string the agent sent, normalized (trimmed, slashes collapsed: upstream/model-name.ts). */
  readonly requestedModel: string;
  /** The model string sent upstream. */
  readonly upstreamModel: string;
  /** Upstream URL: base URL + request path without its leading /v1. */
  readonly url: string;
}
