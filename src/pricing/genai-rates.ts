// Reads one model's rates from the bundled @pydantic/genai-prices data (offline; never updated from the network).
import { calcPrice, type ModelPrice, type ModelInfo } from '@pydantic/genai-prices';
import { rateSet, type Rate, type RateCard, type RateCondition, type RateSet } from './rate-card.ts';

/**
 * The library's rate card for (provider, model), or null when it has none. `provider` is a genai-prices provider id
 * or anything its provider matching accepts (`xai` finds `x-ai`); the model is matched by the library's own rules,
 * which also find date-suffixed names (`claude-sonnet-4-20250514`). No provider means no lookup: the library's
 * guess from the model name alone could price one vendor's model at another's rates.
 */
export function genaiRateCard(provider: string, model: string): RateCard | null {
  if (!provider || !model) return null;
  let info: ModelInfo;
  try {
    const found = calcPrice({}, model, { providerId: provider });
    if (!found) return null;
    info = found.model;
  } catch {
    return null;
  }
  const options: { condition: RateCondition; rates: RateSet }[] = [];
  const entries = Array.isArray(info.prices) ? info.prices : [{ prices: info.prices }];
  for (const entry of entries) {
    const rates = tokenRates(entry.prices);
    const condition = toCondition(entry.constraint);
    if (!rates || !condition) return null;
    options.push({ condition, rates });
  }
  return options.length > 0 ? { options } : null;
}

/**
 * Token rates of one price entry. An entry with no prices at all is a free model (OpenRouter `:free`, moderation).
 * Null when the entry prices something but neither input nor output tokens (per-second audio, per-request fees).
 */
function tokenRates(prices: ModelPrice): RateSet | null {
  if (Object.values(prices).every((value) => value === undefined)) return rateSet({ input: 0, output: 0 });
  const input = toRate(prices.input_mtok);
  const output = toRate(prices.output_mtok);
  if (input === undefined && output === undefined) return null;
  const cacheRead = toRate(prices.cache_read_mtok);
  const cacheWrite = toRate(prices.cache_write_mtok);
  return rateSet({
    input: input ?? 0,
    output: output ?? 0,
    ...(cacheRead !== undefined ? { cacheRead } : {}),
    ...(cacheWrite !== undefined ? { cacheWrite } : {}),
  });
}

function toRate(value: unknown): Rate | undefined {
  if (isRate(value)) return value;
  if (typeof value !== 'object' || value === null) return undefined;
  const { base, tiers } = value as { base?: unknown; tiers?: unknown };
  if (!isRate(base) || !Array.isArray(tiers)) return undefined;
  const parsed: { start: number; price: number }[] = [];
  for (const tier of tiers as unknown[]) {
    const { start, price } = (tier ?? {}) as { start?: unknown; price?: unknown };
    if (!isRate(start) || !isRate(price)) return undefined;
    parsed.push({ start, price });
  }
  return { base, tiers: parsed.sort((a, b) => a.start - b.start) };
}

function isRate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function toCondition(constraint: unknown): RateCondition | null {
  if (constraint === undefined || constraint === null) return { kind: 'always' };
  const c = constraint as { type?: unknown; start_date?: unknown; start_time?: unknown; end_time?: unknown };
  if (typeof c.start_date === 'string') {
    const startsAtMs = Date.parse(`${c.start_date}T00:00:00Z`);
    return Number.isNaN(startsAtMs) ? null : { kind: 'from_date', startsAtMs };
  }
  if (typeof c.start_time === 'string' && typeof c.end_time === 'string') {
    const startSec = secondOfUtcDay(c.start_time);
    const endSec = secondOfUtcDay(c.end_time);
    return startSec === null || endSec === null ? null : { kind: 'time_of_day', startSec, endSec };
  }
  return null;
}

/** `HH:MM:SS[.fff](Z|±HH:MM)` → seconds of the UTC day. */
function secondOfUtcDay(time: string): number | null {
  const match = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/.exec(time);
  if (!match) return null;
  const local = Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]) + Number(match[4] ?? 0);
  const offset = match[5] === 'Z' ? 0 : (match[6] === '+' ? 1 : -1) * (Number(match[7]) * 3600 + Number(match[8]) * 60);
  return (((local - offset) % 86_400) + 86_400) % 86_400;
}
