// Keeps the provider's credential out of what an upstream sends back: bodies, headers, ids and messages are masked.
import { KeyWindows, maskRuns } from './key-windows.ts';
import type { Provider, ProviderKey } from './provider.ts';

export const MASKED_KEY = '[REDACTED]';

const NO_KEYS: readonly ProviderKey[] = [];

const PREPARED = new WeakMap<readonly ProviderKey[], KeyWindows | null>();

/**
 * The keys' 12-character windows (key-windows.ts), prepared once per key list (the provider registry's lists live as
 * long as it); null when no key is long enough to be masked (a placeholder such as `none` would mangle ordinary text).
 */
export function keyWindows(keys: readonly ProviderKey[]): KeyWindows | null {
  let prepared = PREPARED.get(keys);
  if (prepared === undefined) {
    prepared = KeyWindows.of(keys.map((key) => key.secret));
    PREPARED.set(keys, prepared);
  }
  return prepared;
}

/** The keys whose appearance in an answer must be masked: none for a provider that sends no credential. */
export function keysToMask(provider: Provider): readonly ProviderKey[] {
  return provider.auth === 'none' ? NO_KEYS : provider.keys;
}

/**
 * The body with every run of 12 or more characters of one of the keys (any letter case, JSON escapes decoded)
 * replaced by [REDACTED]; the same buffer when none occurs. Some OpenAI-compatible servers quote the key they refused.
 */
export function maskProviderKeys(body: Buffer, keys: readonly ProviderKey[]): Buffer {
  const windows = keyWindows(keys);
  return windows === null ? body : maskRuns(windows, body);
}

/** The text masked as maskProviderKeys masks bytes (the same string when nothing is masked): headers, ids, messages. */
export function maskKeysInText(text: string, keys: readonly ProviderKey[]): string {
  const windows = keyWindows(keys);
  if (windows === null || text.length < 12 || !windows.occursIn(text)) return text;
  const bytes = Buffer.from(text, 'utf8');
  const masked = maskRuns(windows, bytes);
  return masked === bytes ? text : masked.toString('utf8');
}

/** Whether the text holds a run of one of the keys (any case: a URL's host is lower-cased). */
export function holdsKeyInAnyCase(text: string, keys: readonly ProviderKey[]): boolean {
  return maskKeysInText(text, keys) !== text;
}
