// What an upstream answer says about the key that sent it: dead, cooling (for how long, from its headers), or headroom left.

type Headers = Record<string, string | string[] | undefined>;

/** cllama: a cooldown lasts at most 60 s, 10 s when the provider gives no usable time. */
export const MAX_COOLDOWN_MS = 60_000;
export const DEFAULT_COOLDOWN_MS = 10_000;
/** How much of a refused answer's body is read to tell quota exhaustion from a rate limit (cllama: 4096 bytes). */
export const VERDICT_BODY_BYTES = 4096;

export type KeyVerdict =
  | { readonly kind: 'dead'; readonly code: number; readonly reason: string }
  | { readonly kind: 'cooldown'; readonly code: number; readonly ms: number; readonly source: string };

/** Statuses that say something about the key (the rest pass through as the upstream's answer). */
export function judgesKey(status: number): boolean {
  return status === 401 || status === 402 || status === 403 || status === 429;
}

const QUOTA = /insufficient_quota|billing|exceeded your current quota/i;

/** cllama's classification: 401/402/403, or a 429 whose body speaks of quota or billing: dead; another 429: cooldown. */
export function judgeAnswer(input: { status: number; headers: Headers; bodyHead: string; now: number }): KeyVerdict | null {
  const { status } = input;
  if (status === 401 || status === 402 || status === 403) return { kind: 'dead', code: status, reason: `http_${status}` };
  if (status !== 429) return null;
  if (QUOTA.test(input.bodyHead)) return { kind: 'dead', code: 429, reason: 'http_429' };
  const signal = cooldownFromHeaders(input.headers, input.now);
  return { kind: 'cooldown', code: 429, ms: signal?.ms ?? DEFAULT_COOLDOWN_MS, source: signal?.source ?? 'default' };
}

/**
 * The wait the provider asks for, capped at MAX_COOLDOWN_MS, first found of: `retry-after-ms`; `retry-after` (seconds,
 * or an HTTP date); OpenAI's `x-ratelimit-reset-requests` / `-tokens` (`1s`, `6m0s`, `20ms`), the exhausted limit's
 * (remaining 0) else the later; Anthropic's `anthropic-ratelimit-*-reset` (RFC 3339), likewise. Null: none usable.
 */
export function cooldownFromHeaders(headers: Headers, now: number): { ms: number; source: string } | null {
  const capped = (ms: number, source: string) => ({ ms: Math.min(MAX_COOLDOWN_MS, Math.max(1, Math.ceil(ms))), source });
  const retryMs = Number(header(headers, 'retry-after-ms'));
  if (Number.isFinite(retryMs) && retryMs > 0) return capped(retryMs, 'retry-after-ms');
  const retryAfter = header(headers, 'retry-after');
  if (retryAfter !== undefined) {
    const seconds = /^\s*(\d+)/.exec(retryAfter);
    if (seconds && Number(seconds[1]) > 0) return capped(Number(seconds[1]) * 1000, 'retry-after');
    const date = seconds ? Number.NaN : Date.parse(retryAfter);
    if (Number.isFinite(date) && date > now) return capped(date - now, 'retry-after');
  }
  const openai = latestReset(
    headers,
    ['requests', 'tokens'].map((kind) => ({ reset: `x-ratelimit-reset-${kind}`, remaining: `x-ratelimit-remaining-${kind}` })),
    (value) => goDuration(value),
  );
  if (openai !== null) return capped(openai, 'x-ratelimit-reset');
  const kinds = ['requests', 'tokens', 'input-tokens', 'output-tokens'];
  const anthropic = latestReset(
    headers,
    kinds.map((kind) => ({ reset: `anthropic-ratelimit-${kind}-reset`, remaining: `anthropic-ratelimit-${kind}-remaining` })),
    (value) => {
      const at = Date.parse(value);
      return Number.isFinite(at) ? at - now : null;
    },
  );
  if (anthropic !== null) return capped(anthropic, 'anthropic-ratelimit-reset');
  return null;
}

/** The remaining requests and tokens the provider reported with an answer (either may be null); null when neither. */
export function headroomFromHeaders(headers: Headers): { requests: number | null; tokens: number | null } | null {
  const requests = firstCount(headers, REQUESTS_REMAINING);
  const tokens = firstCount(headers, TOKENS_REMAINING);
  return requests === null && tokens === null ? null : { requests, tokens };
}

const REQUESTS_REMAINING = ['x-ratelimit-remaining-requests', 'anthropic-ratelimit-requests-remaining'] as const;
const TOKENS_REMAINING = ['x-ratelimit-remaining-tokens', 'anthropic-ratelimit-tokens-remaining', 'anthropic-ratelimit-input-tokens-remaining'] as const;

/** The first of `names` present as a finite count of 0 or more (runs on every answer: no closure, no rest array). */
function firstCount(headers: Headers, names: readonly string[]): number | null {
  for (const name of names) {
    const text = header(headers, name);
    if (text === undefined) continue;
    const value = Number(text);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  return null;
}

/** Of the resets given, the exhausted limits' (remaining 0) latest, else the latest of all; ms or null. */
function latestReset(headers: Headers, pairs: { reset: string; remaining: string }[], parse: (value: string) => number | null): number | null {
  let exhausted: number | null = null;
  let any: number | null = null;
  for (const pair of pairs) {
    const value = header(headers, pair.reset);
    const ms = value === undefined ? null : parse(value.trim());
    if (ms === null || !(ms > 0)) continue;
    any = Math.max(any ?? 0, ms);
    if (header(headers, pair.remaining)?.trim() === '0') exhausted = Math.max(exhausted ?? 0, ms);
  }
  return exhausted ?? any;
}

/** A Go duration as OpenAI sends it (`1s`, `6m0s`, `1h2m3.5s`, `20ms`) in ms; null when it is not one. */
export function goDuration(text: string): number | null {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
  const part = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/gy;
  let total = 0;
  let matched = 0;
  for (let match = part.exec(text); match; match = part.exec(text)) {
    total += Number(match[1]) * units[match[2]];
    matched = part.lastIndex;
  }
  return matched > 0 && matched === text.length ? total : null;
}

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
