// Provider and route types shared by the registry, the router and the upstream client.
import type { WireFormat } from '../protocol/wire-format.ts';
export type AuthScheme = 'bearer' | 'x-api-key' | 'none';

export interface ProviderKey {
  readonly id: string;
  readonly label: string;
  /** The real provider credential. Never logged, never rendered in an error. */
  readonly secret: string;
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
