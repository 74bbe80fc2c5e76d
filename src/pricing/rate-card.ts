// A model's rates as tollgate applies them: per-token rates, optional input-size tiers, optional date or time-of-day conditions.
import type { ModelRates } from './pricer.ts';
import type { Usage } from '../protocol/usage.ts';
import { totalInputTokens } from '../protocol/usage.ts';
import { roundMicros } from './money.ts';

/** USD per million tokens (= micro-dollars per token), either flat or by tier. */
export type Rate = number | TieredRate;

/** A rate that depends on the request's total input tokens: `price` applies when input tokens exceed `start`. */
export interface TieredRate {
  readonly base: number;
  /** Sorted by start, ascending. */
  readonly tiers: readonly { readonly start: number; readonly price: number }[];
}

export interface RateSet {
  readonly input: Rate;
  readonly output: Rate;
  readonly cacheRead: Rate;
  readonly cacheWrite: Rate;
  /** Base-tier rates, as the Pricer interface reports them. */
  readonly flat: ModelRates;
}

export type RateCondition =
  | { readonly kind: 'always' }
  | { readonly kind: 'from_date'; readonly startsAtMs: number }
  /** Seconds of the UTC day; a window with end < start wraps past midnight. */
  | { readonly kind: 'time_of_day'; readonly startSec: number; readonly endSec: number };

/** Rate sets in the order of the price data; the last one whose condition holds applies, else the first. */
export interface RateCard {
  readonly options: readonly { readonly condition: RateCondition; readonly rates: RateSet }[];
}

export function singleRateCard(rates: RateSet): RateCard {
  return { options: [{ condition: { kind: 'always' }, rates }] };
}

/** The rate set in force at a moment (same rule as @pydantic/genai-prices: scan from the last option back). */
export function selectRates(card: RateCard, atMs: number): RateSet {
  const options = card.options;
  for (let i = options.length - 1; i >= 0; i--) {
    const { condition, rates } = options[i]!;
    if (condition.kind === 'always') return rates;
    if (condition.kind === 'from_date') {
      if (atMs >= condition.startsAtMs) return rates;
    } else {
      const second = (atMs / 1000) % 86_400;
      const inside =
        condition.endSec < condition.startSec
          ? second >= condition.startSec || second < condition.endSec
          : second >= condition.startSec && second < condition.endSec;
      if (inside) return rates;
    }
  }
  return options[0]!.rates;
}

/**
 * Cost of one call in integer micro-dollars: Σ tokens × rate (rates are µ$ per token), rounded once, to the nearest
 * micro-dollar, ties up. Tokens the usage does not report count as 0. The tier of every rate is chosen by the request's
 * total input tokens (fresh + cache read + cache write), as providers bill long-context requests: the whole request at the higher rate.
 */
export function costMicros(rates: RateSet, usage: Usage): number {
  const inputSize = totalInputTokens(usage);
  const sum =
    (usage.inputTokens ?? 0) * rateAt(rates.input, inputSize) +
    (usage.outputTokens ?? 0) * rateAt(rates.output, inputSize) +
    (usage.cacheReadTokens ?? 0) * rateAt(rates.cacheRead, inputSize) +
    (usage.cacheWriteTokens ?? 0) * rateAt(rates.cacheWrite, inputSize);
  return roundMicros(sum);
}

function rateAt(rate: Rate, inputSize: number): number {
  if (typeof rate === 'number') return rate;
  let price = rate.base;
  for (const tier of rate.tiers) if (inputSize > tier.start) price = tier.price;
  return price;
}

/**
 * The rates that apply to a request of `inputSize` input tokens (tiers priced by input size), as flat numbers: the
 * base tier's object itself when no tier starts below that size.
 */
export function ratesForInputSize(set: RateSet, inputSize: number): ModelRates {
  if (typeof set.input === 'number' && typeof set.output === 'number') return set.flat;
  const input = rateAt(set.input, inputSize);
  const output = rateAt(set.output, inputSize);
  if (input === set.flat.inputPerMTok && output === set.flat.outputPerMTok) return set.flat;
  return {
    ...set.flat,
    inputPerMTok: input,
    outputPerMTok: output,
    cacheReadPerMTok: rateAt(set.cacheRead, inputSize),
    cacheWritePerMTok: rateAt(set.cacheWrite, inputSize),
  };
}

export function baseRate(rate: Rate): number {
  return typeof rate === 'number' ? rate : rate.base;
}

/**
 * Builds a rate set. A missing cache rate falls back to the input rate: the data has no discount to apply, and the
 * full input rate never undercounts (OpenAI-style providers count cached tokens inside the prompt anyway).
 */
export function rateSet(input: { input: Rate; output: Rate; cacheRead?: Rate; cacheWrite?: Rate }): RateSet {
  const cacheRead = input.cacheRead ?? input.input;
  const cacheWrite = input.cacheWrite ?? input.input;
  const flat: ModelRates = {
    inputPerMTok: baseRate(input.input),
    outputPerMTok: baseRate(input.output),
    ...(input.cacheRead !== undefined ? { cacheReadPerMTok: baseRate(input.cacheRead) } : {}),
    ...(input.cacheWrite !== undefined ? { cacheWritePerMTok: baseRate(input.cacheWrite) } : {}),
  };
  return { input: input.input, output: input.output, cacheRead, cacheWrite, flat };
}
