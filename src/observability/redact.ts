// Secret scrubbing for everything logged: secret-named keys at any depth, and key-shaped strings inside text.
export const REDACTED = '[REDACTED]';

const MAX_DEPTH = 10;

/** Exact key names (normalised to snake_case lower case) whose values are never logged. */
const SECRET_KEYS = new Set([
  'authorization',
  'proxy_authorization',
  'x_api_key',
  'api_key',
  'apikey',
  'x_goog_api_key',
  'secret',
  'token',
  'password',
  'passwd',
  'cookie',
  'set_cookie',
  'credentials',
  'private_key',
]);
const SECRET_SUFFIXES = ['_token', '_secret', '_api_key', '_apikey', '_password', '_authorization', '_private_key'];

/** Key-shaped strings: bearer credentials and the well-known provider key formats. */
const SECRET_TEXT_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/\bBearer\s+[^\s"',;]+/g, `Bearer ${REDACTED}`],
  [/\bBasic\s+[A-Za-z0-9+/]{6,}={0,2}/g, `Basic ${REDACTED}`],
  [/\bsk-[A-Za-z0-9_-]{16,}/g, REDACTED],
  [/\bAIza[0-9A-Za-z_-]{30,}/g, REDACTED],
];

/** snake_case, lower case: `apiKey` / `X-Api-Key` / `API_KEY` all become `api_key` / `x_api_key`. */
export function normaliseKey(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
}

/** Whether a field of this name holding this value must be redacted. */
export function isSecretField(key: string, value: unknown): boolean {
  const name = normaliseKey(key);
  if (SECRET_KEYS.has(name) || SECRET_SUFFIXES.some((suffix) => name.endsWith(suffix))) return true;
  if (name.includes('secret') || name.includes('password')) return true;
  // `tokens_in`, `cache_write_tokens` are counts; a `*_tokens` field holding text or a list is a list of credentials.
  if (name.endsWith('tokens') && value !== null && value !== undefined && typeof value !== 'number') return true;
  return false;
}

/** Every pattern above starts with one of these: one scan rules out the text that holds none (nearly all of it). */
const SECRET_TEXT_HINT = /Bearer|Basic|sk-|AIza/;

export function scrubSecretText(text: string): string {
  if (!SECRET_TEXT_HINT.test(text)) return text;
  let out = text;
  for (const [pattern, replacement] of SECRET_TEXT_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** A redacted deep copy: secret fields replaced, strings scrubbed, undefined dropped, cycles and depth bounded. */
export function redactSecrets(value: unknown): unknown {
  return redactValue(value, 0, new WeakSet<object>());
}

function redactValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return scrubSecretText(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1, seen));
    if (value instanceof Error) {
      return {
        type: value.name,
        message: scrubSecretText(value.message),
        ...(value.stack ? { stack: scrubSecretText(value.stack) } : {}),
      };
    }
    if (value instanceof Date) return value.toISOString();
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      if (field === undefined || typeof field === 'function') continue;
      out[key] = isSecretField(key, field) ? REDACTED : redactValue(field, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
