// Header hygiene at both ends: what goes upstream (credential swapped, agent token never) and what comes back to the agent.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { ProxyError } from '../errors.ts';
import type { Provider } from './provider.ts';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);
/** Never forwarded upstream: the agent's own credentials, encodings (the body sent is tollgate's own JSON), cllama-internal headers. */
const NOT_UPSTREAM = new Set(['authorization', 'x-api-key', 'accept-encoding', 'content-encoding', 'cookie', 'x-claw-consumer-session-epoch', 'x-cllama-policy-origin']);

export function upstreamRequestHeaders(input: { incoming: IncomingHttpHeaders; provider: Provider; bodyLength: number }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || NOT_UPSTREAM.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  out['content-type'] = 'application/json';
  out['content-length'] = String(input.bodyLength);
  out['accept-encoding'] = 'identity';
  applyProviderAuth(out, input.provider);
  return out;
}

function applyProviderAuth(headers: Record<string, string>, provider: Provider): void {
  if (provider.auth === 'none') return;
  const key = provider.keys[0];
  if (!key) throw new ProxyError('provider_not_configured', { message: `provider "${provider.name}" has no usable key` });
  if (provider.auth === 'x-api-key') headers['x-api-key'] = key.secret;
  else headers.authorization = `Bearer ${key.secret}`;
}

/** Upstream response headers worth relaying; length is dropped when tollgate rewrites the body. */
export function downstreamResponseHeaders(input: { upstream: Record<string, string | string[] | undefined>; keepLength: boolean }): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(input.upstream)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  const length = input.upstream['content-length'];
  if (input.keepLength && typeof length === 'string') out['content-length'] = length;
  return out;
}
