// Checks of a provider's base URL and key, from providers.json or the environment: what would misroute a call or fail every one is refused at start.

/**
 * Why a base URL cannot be used, or null. The upstream URL is the base URL with the request path appended, so a query
 * or fragment would swallow the path, and credentials (`user:pass@`) would be dropped silently: tollgate sends the
 * provider key itself. The value is never quoted (it may hold a credential).
 */
export function baseUrlProblem(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) return 'must not contain spaces or control characters';
  if (url.username || url.password) return 'must not carry credentials (user:password@): the key goes in providers.json or the key variable';
  if (raw.includes('?') || raw.includes('#')) return 'must not have a query or fragment (the request path is appended to it)';
  return null;
}

/** Visible ASCII only: a key is sent as an HTTP header value, where a line break, a control or a non-ASCII character fails every call. */
const KEY_PATTERN = /^[\x21-\x7e]+$/;

/** Why a provider key cannot be sent, or null. The key is never quoted. */
export function keyProblem(secret: string): string | null {
  return KEY_PATTERN.test(secret) ? null : 'must be printable ASCII without spaces or line breaks (it is sent in an HTTP header)';
}
