// Keeps the provider's credential out of what an upstream sends back: an answer that echoes it reaches agent and history masked.
import type { Provider, ProviderKey } from './provider.ts';

export const MASKED_KEY = '[REDACTED]';
const MASKED_BYTES = Buffer.from(MASKED_KEY);

/** Shorter values (placeholders such as `none`) would mask ordinary text; real keys are far longer. */
const MIN_MASKED_LENGTH = 12;

const NO_KEYS: readonly ProviderKey[] = [];

const KEY_BYTES = new WeakMap<readonly ProviderKey[], readonly Buffer[]>();

/**
 * The keys long enough to be masked (masking a short placeholder would mangle ordinary text), as bytes: encoded once per
 * key list (the provider registry's lists live as long as it), since a Buffer search for a string encodes it each time.
 */
export function maskableKeyBytes(keys: readonly ProviderKey[]): readonly Buffer[] {
  let bytes = KEY_BYTES.get(keys);
  if (bytes === undefined) {
    bytes = keys.filter((key) => key.secret.length >= MIN_MASKED_LENGTH).map((key) => Buffer.from(key.secret, 'utf8'));
    KEY_BYTES.set(keys, bytes);
  }
  return bytes;
}

/** The keys whose appearance in an answer must be masked: none for a provider that sends no credential. */
export function keysToMask(provider: Provider): readonly ProviderKey[] {
  return provider.auth === 'none' ? NO_KEYS : provider.keys;
}

/**
 * The body with every occurrence of one of the keys replaced by [REDACTED] (the same buffer when none occurs, which
 * costs one byte search per key). Some OpenAI-compatible servers quote the key they refused in their error message.
 */
export function maskProviderKeys(body: Buffer, keys: readonly ProviderKey[]): Buffer {
  let out = body;
  for (const key of maskableKeyBytes(keys)) out = maskKeyBytes(out, key);
  return out;
}

/**
 * The body with every occurrence of the key's bytes replaced by [REDACTED], byte for byte: the rest stays exactly as
 * it came (a stream's chunk may end inside a UTF-8 character). The same buffer when the key does not occur.
 */
export function maskKeyBytes(body: Buffer, key: Buffer): Buffer {
  let at = body.indexOf(key);
  if (at < 0) return body;
  const parts: Buffer[] = [];
  let from = 0;
  for (; at >= 0; at = body.indexOf(key, from)) {
    parts.push(body.subarray(from, at), MASKED_BYTES);
    from = at + key.length;
  }
  parts.push(body.subarray(from));
  return Buffer.concat(parts);
}

/** The text with every occurrence of one of the keys replaced by [REDACTED] (the same string when none occurs). */
export function maskKeysInText(text: string, keys: readonly ProviderKey[]): string {
  let out = text;
  for (const key of keys) {
    if (key.secret.length >= MIN_MASKED_LENGTH && out.includes(key.secret)) out = out.split(key.secret).join(MASKED_KEY);
  }
  return out;
}

/** Whether the text holds one of the keys in any letter case (a URL's host is lower-cased). For rare paths, not per call. */
export function holdsKeyInAnyCase(text: string, keys: readonly ProviderKey[]): boolean {
  const lower = text.toLowerCase();
  for (const key of keys) {
    if (key.secret.length >= MIN_MASKED_LENGTH && lower.includes(key.secret.toLowerCase())) return true;
  }
  return false;
}
