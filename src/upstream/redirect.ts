// An upstream that answers with a redirect is refused, not relayed: an SDK following it would carry the agent's token elsewhere.
import { ProxyError } from '../errors.ts';
import type { UpstreamResponse } from './client.ts';
import { holdsKeyInAnyCase } from './key-mask.ts';
import type { ProviderKey } from './provider.ts';

/** Most of a redirect's body read (and dropped) so its connection can serve the next call. */
const DRAIN_BYTES = 64 * 1024;

export function isRedirect(statusCode: number): boolean {
  return statusCode >= 300 && statusCode < 400;
}

/**
 * The error for a 3xx answer, after its body is drained. Relayed, the client's SDK would follow it with the agent's
 * own credentials (`x-api-key` survives a cross-origin redirect), and the usual cause is a provider base URL that
 * redirects (http:// to https://, a moved host): the message names where it pointed, origin and path only.
 */
export async function redirectRefused(input: { upstream: UpstreamResponse; keysToMask: readonly ProviderKey[] }): Promise<ProxyError> {
  const { upstream } = input;
  await upstream.body.bytes({ maxBytes: DRAIN_BYTES }).catch(() => undefined);
  const status = upstream.statusCode;
  return new ProxyError('upstream_redirect', {
    message: `the upstream answered ${status} with a redirect${describeTarget(upstream.headers.location, input.keysToMask)}; tollgate does not follow redirects: check the provider's base URL`,
  });
}

/** Where the redirect points, origin and path; not said at all when it holds the provider key (in a path, or a host that lower-cases it). */
function describeTarget(location: string | string[] | undefined, keys: readonly ProviderKey[]): string {
  const value = Array.isArray(location) ? location[0] : location;
  if (!value) return '';
  if (holdsKeyInAnyCase(value, keys)) return ' to a location that holds the provider key';
  try {
    const url = new URL(value, 'http://upstream.invalid');
    return url.origin === 'http://upstream.invalid' ? ` to ${url.pathname}` : ` to ${url.origin}${url.pathname}`;
  } catch {
    return '';
  }
}
