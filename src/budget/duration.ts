// Budget windows: parse Go-style durations plus days (`30s`, `1h30m`, `7d`) and format OpenAI-style reset strings.

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;

/**
 * Milliseconds in a window string, or null when it is not a positive duration of at least 1 ms.
 * Accepts everything Go's time.ParseDuration accepts that is positive (`500ms`, `1.5h`, `1h30m`), plus `d` = 24h.
 * A bare number, a minus sign, inner spaces or an unknown unit are refused.
 */
export function parseWindow(text: string): number | null {
  const trimmed = text.trim();
  const source = trimmed.startsWith('+') ? trimmed.slice(1) : trimmed;
  if (source === '') return null;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < source.length) {
    const start = PART.lastIndex;
    const match = PART.exec(source);
    if (!match || match.index !== start) return null;
    total += Number(match[1]) * UNIT_MS[match[2]];
  }
  const ms = Math.round(total);
  return Number.isSafeInteger(ms) && ms >= 1 ? ms : null;
}

/**
 * A duration as OpenAI writes its x-ratelimit-reset-* headers (Go's Duration.String at millisecond precision):
 * `0s`, `120ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`.
 */
export function formatResetDuration(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole === 0) return '0s';
  if (whole < 1000) return `${whole}ms`;
  const hours = Math.floor(whole / 3_600_000);
  const minutes = Math.floor((whole % 3_600_000) / 60_000);
  const millis = whole % 60_000;
  const seconds = millis % 1000 === 0 ? String(millis / 1000) : withoutTrailingZeros((millis / 1000).toFixed(3));
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** `1.500` → `1.5` (a string with a fraction: never all zeros after the point). */
function withoutTrailingZeros(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x30) end--;
  return end === text.length ? text : text.slice(0, end);
}

/** Whole seconds for a Retry-After header: rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
