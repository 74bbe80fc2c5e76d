// Number, money, duration and time formatting shared by the dashboard (browser) and the CLI (node): one way to print a dollar.

const GROUPED = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** Whole numbers with thousands separators: 12,345. */
export function formatCount(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return GROUPED.format(value);
}

/** Token counts, compact above ten thousand: 9,100 · 61.1k · 1.2M · 3.38B · 9,007T. */
export function formatTokens(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  if (Math.abs(value) < 10_000) return GROUPED.format(value);
  // the unit is chosen after rounding, so 999,999 reads 1M, not 1000k
  for (const [unit, size, digits] of TOKEN_UNITS) {
    const text = (value / size).toFixed(digits);
    if (Math.abs(Number(text)) < 1000) return `${trimZeros(text)}${unit}`;
  }
  return `${GROUPED.format(Math.round(value / 1e12))}T`;
}

const TOKEN_UNITS = [
  ['k', 1e3, 1],
  ['M', 1e6, 2],
  ['B', 1e9, 2],
  ['T', 1e12, 2],
];

/**
 * Integer micro-dollars as dollars with sensible precision: $0 · $0.0042 · $0.125 · $4.20 · $1,234.50 · $12,345.
 * Below a cent up to six decimals (trailing zeros dropped, at least two significant digits kept); below a dollar
 * three decimals; below ten thousand cents; above, whole dollars.
 */
export function formatUsdMicros(micros) {
  if (micros === null || micros === undefined || !Number.isFinite(micros)) return '–';
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(Math.round(micros));
  if (abs === 0) return '$0';
  if (abs < 10_000) return `${sign}$${trimZeros((abs / 1e6).toFixed(6))}`;
  if (abs < 1_000_000) return `${sign}$${(abs / 1e6).toFixed(3)}`;
  if (abs < 10_000_000_000) return `${sign}$${new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(abs / 1e6)}`;
  return `${sign}$${GROUPED.format(Math.round(abs / 1e6))}`;
}

/**
 * A spend that may hold calls of unknown price: "unknown" when nothing priced was counted but such calls were (never a
 * plain $0), else the dollars (the calls of unknown cost are then said next to it by the caller).
 */
export function formatSpend(micros, unknownCalls) {
  if (unknownCalls > 0 && !micros) return 'unknown';
  return formatUsdMicros(micros);
}

/** Dollars (a float from the API) through the same rules, via micro-dollars. */
export function formatUsd(usd) {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return '–';
  return formatUsdMicros(Math.round(usd * 1e6));
}

/** A limit's amount in its own metric: money for usd_micros, compact counts for tokens, plain counts otherwise. */
export function formatMetric(metric, value) {
  if (metric === 'usd_micros') return formatUsdMicros(value);
  if (metric && metric.endsWith('_tokens')) return formatTokens(value);
  return formatCount(value);
}

/** The short name of a metric for labels: $ · requests · input tokens · ... */
export function metricLabel(metric) {
  return (
    {
      usd_micros: 'spend',
      requests: 'requests',
      input_tokens: 'input tokens',
      output_tokens: 'output tokens',
      total_tokens: 'tokens',
      concurrency: 'in flight',
    }[metric] ?? metric
  );
}

/** A duration as the two largest units: 45s · 3m 05s · 1h 21m · 2d 4h. Zero or less is "now". */
/**
 * A USD limit's burn-rate forecast as words ("at this rate: empty in 2h 10m"), or null when it has none or nothing was
 * spent over its rate window. `elapsed`: ms since the admin API answered.
 */
export function forecastText(limit, elapsed = 0) {
  const inMs = limit?.forecast?.exhausted_in_ms;
  if (inMs === null || inMs === undefined) return null;
  return inMs <= 0 ? 'at this rate: empty now' : `at this rate: empty in ${formatDuration(Math.max(1, inMs - elapsed))}`;
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms <= 0) return 'now';
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** Percent with no decimals (one below 10%): 84% · 4.5%. */
export function formatPercent(fraction) {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '–';
  const percent = fraction * 100;
  return percent > 0 && percent < 10 ? `${trimZeros(percent.toFixed(1))}%` : `${Math.round(percent)}%`;
}

/** The tone of a used fraction: ok below 60%, warn from 60%, high from 80%, over at 100%. */
export function fractionTone(fraction) {
  if (!Number.isFinite(fraction)) return 'ok';
  if (fraction >= 1) return 'over';
  if (fraction >= 0.8) return 'high';
  if (fraction >= 0.6) return 'warn';
  return 'ok';
}

/** Clock time (HH:MM:SS, local) of an ISO timestamp. */
export function formatClock(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '–';
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((part) => String(part).padStart(2, '0')).join(':');
}

/** How long ago an ISO timestamp was, relative to `now` (ms): 12s ago · 4m ago · 3h ago · 2d ago. */
export function formatAgo(iso, now) {
  const then = Date.parse(iso);
  if (!Number.isFinite(then)) return '–';
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

function trimZeros(text) {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}
