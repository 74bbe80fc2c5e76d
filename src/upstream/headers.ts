// Header hygiene at both ends: what goes upstream (credential swapped, agent token never) and what comes back to the agent.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { ProxyError } from '../errors.ts';
import { connectionNamed, DEFAULT_FORWARD_HEADERS, forwardRule } from './forward-headers.ts';
import { maskKeysInText } from './key-mask.ts';
import type { Provider, ProviderKey } from './provider.ts';

/** Upstream response headers never relayed to the agent: hop-by-hop, and the length tollgate sets itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

/**
 * What goes upstream: the agent headers the provider's allow list admits (never a transport header, one the agent's
 * Connection header names, or the agent's own credential), then tollgate's body type and length, `identity`, and the
 * provider's credential.
 */
export function upstreamRequestHeaders(input: {
  incoming: IncomingHttpHeaders;
  provider: Provider;
  bodyLength: number;
  key?: ProviderKey | null;
}): Record<string, string> {
  const out: Record<string, string> = {};
  const rule = forwardRule(input.provider.forwardHeaders ?? DEFAULT_FORWARD_HEADERS);
  const named = connectionNamed(input.incoming.connection);
  for (const name in input.incoming) {
    const value = input.incoming[name];
    if (value === undefined || !rule.admits(name) || named?.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  out['content-type'] = 'application/json';
  out['content-length'] = String(input.bodyLength);
  out['accept-encoding'] = 'identity';
  applyProviderAuth(out, input.provider, input.key ?? input.provider.keys[0]);
  return out;
}

/** The provider's credential, set on `headers`: the key the pool chose (src/keys/), else the provider's first. */
export function applyProviderAuth(headers: Record<string, string>, provider: Provider, key: ProviderKey | undefined = provider.keys[0]): void {
  if (provider.auth === 'none') return;
  if (!key) throw new ProxyError('provider_not_configured', { message: `provider "${provider.name}" has no usable key` });
  if (provider.auth === 'x-api-key') headers['x-api-key'] = key.secret;
  else headers.authorization = `Bearer ${key.secret}`;
}

/** The header carrying this key's credential (the pool's choice for one attempt), replacing the default one. */
export function credential(provider: Provider, key: ProviderKey): Record<string, string> {
  if (provider.auth === 'none') return {};
  return provider.auth === 'x-api-key' ? { 'x-api-key': key.secret } : { authorization: `Bearer ${key.secret}` };
}

/**
 * Upstream response headers worth relaying; length is dropped when tollgate rewrites the body. A value that echoes the
 * provider key (`www-authenticate` quoting the refused token, a debug header) reaches the agent masked: one substring
 * search per header and key.
 */
export function downstreamResponseHeaders(input: {
  upstream: Record<string, string | string[] | undefined>;
  keepLength: boolean;
  keysToMask: readonly ProviderKey[];
}): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const keys = input.keysToMask;
  for (const name in input.upstream) {
    const value = input.upstream[name];
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    if (keys.length === 0) out[name] = value;
    else if (typeof value === 'string') out[name] = maskKeysInText(value, keys);
    else out[name] = maskedList(value, keys);
  }
  const length = input.upstream['content-length'];
  if (input.keepLength && typeof length === 'string') out['content-length'] = length;
  return out;
}

function maskedList(values: readonly string[], keys: readonly ProviderKey[]): string[] {
  const out: string[] = [];
  for (const value of values) out.push(maskKeysInText(value, keys));
  return out;
}
