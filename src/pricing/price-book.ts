// The Pricer: usage → integer micro-dollars, from provider-reported cost, the operator's price file or the bundled price table.
import type { ModelRates, Pricer, PriceQuote } from './pricer.ts';
import type { Usage } from '../protocol/usage.ts';
import type { OperatorPrices } from './operator-prices.ts';
import { costMicros, rateSet, ratesForInputSize, selectRates, singleRateCard, type RateCard } from './rate-card.ts';
import { genaiRateCard } from './genai-rates.ts';
import { higher, tableCeiling, widestCeiling } from './rate-ceiling.ts';
import { operatorKeys, tableLookups } from './model-keys.ts';
import { usdToMicros } from './money.ts';

export interface PriceBookOptions {
  readonly operatorPrices?: OperatorPrices | null;
  /** Clock for prices that change on a date or by time of day (ms since epoch). Defaults to Date.now. */
  readonly now?: () => number;
  /** Bound on cached lookups, since model strings come from agents; the cache is emptied when full. Default 10,000. */
  readonly maxCachedModels?: number;
  /** Where table rates come from; defaults to the bundled @pydantic/genai-prices data (tests substitute a counter). */
  readonly priceTable?: (provider: string, model: string) => RateCard | null;
  /** The highest rates the table lists for a provider; defaults to the bundled data's (rate-ceiling.ts). */
  readonly ceilingTable?: (provider: string) => ModelRates | null;
}

interface Resolved {
  readonly source: 'operator' | 'price_table';
  readonly card: RateCard;
}

const UNKNOWN: PriceQuote = Object.freeze({ costMicros: null, source: 'unknown' });

/**
 * Builds the price book. Order of authority for one call: the cost the provider reported (OpenRouter `usage.cost`),
 * then the operator's price file, then @pydantic/genai-prices' bundled table (offline), else unknown (never $0).
 */
export function createPriceBook(options: PriceBookOptions = {}): Pricer {
  return new PriceBook(options);
}

class PriceBook implements Pricer {
  private readonly operator: OperatorPrices | null;
  private readonly now: () => number;
  private readonly maxCached: number;
  private readonly table: (provider: string, model: string) => RateCard | null;
  private readonly ceilingTable: (provider: string) => ModelRates | null;
  /** (provider, model) → resolved rates, or null for a model known to have no price. */
  private readonly cache = new Map<string, Resolved | null>();
  /** (provider, vendor) → conservative rates for its unpriced models. */
  private readonly ceilings = new Map<string, ModelRates>();
  private widest: ModelRates | undefined;

  constructor(options: PriceBookOptions) {
    this.operator = options.operatorPrices ?? null;
    this.now = options.now ?? Date.now;
    this.maxCached = Math.max(1, options.maxCachedModels ?? 10_000);
    this.table = options.priceTable ?? genaiRateCard;
    this.ceilingTable = options.ceilingTable ?? tableCeiling;
  }

  ceilingRates(provider: string, model: string): ModelRates {
    const refs = tableLookups(provider, model);
    const key = refs.map((ref) => ref.provider).join('\u0000');
    let rates = this.ceilings.get(key);
    if (rates) return rates;
    if (!this.widest) this.widest = widestCeiling(this.ceilingTable);
    rates = refs.map((ref) => this.ceilingTable(ref.provider)).find((found) => found !== null) ?? this.widest;
    const ownPrefix = `${provider.trim().toLowerCase()}/`;
    for (const [name, operatorRates] of this.operator?.models ?? []) if (name.startsWith(ownPrefix)) rates = higher(rates, operatorRates);
    if (this.ceilings.size >= this.maxCached) this.ceilings.clear();
    this.ceilings.set(key, rates);
    return rates;
  }

  rates(provider: string, model: string, inputTokens = 0): ModelRates | null {
    const resolved = this.resolve(provider, model);
    return resolved ? ratesForInputSize(selectRates(resolved.card, this.now()), inputTokens) : null;
  }

  price(input: { readonly provider: string; readonly model: string; readonly usage: Usage }): PriceQuote {
    const { usage } = input;
    const reported = usage.reportedCostUsd;
    if (reported !== undefined && Number.isFinite(reported) && reported >= 0) {
      return { costMicros: usdToMicros(reported), source: 'provider_reported' };
    }
    if (!reportsTokens(usage)) return UNKNOWN;
    const resolved = this.resolve(input.provider, input.model);
    if (!resolved) return UNKNOWN;
    return { costMicros: costMicros(selectRates(resolved.card, this.now()), usage), source: resolved.source };
  }

  private resolve(provider: string, model: string): Resolved | null {
    const key = `${provider}\u0000${model}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const resolved = this.fromOperator(provider, model) ?? this.fromTable(provider, model);
    if (this.cache.size >= this.maxCached) this.cache.clear();
    this.cache.set(key, resolved);
    return resolved;
  }

  private fromOperator(provider: string, model: string): Resolved | null {
    if (!this.operator) return null;
    for (const key of operatorKeys(provider, model)) {
      const rates = this.operator.models.get(key);
      if (!rates) continue;
      const card = singleRateCard(
        rateSet({
          input: rates.inputPerMTok,
          output: rates.outputPerMTok,
          ...(rates.cacheReadPerMTok !== undefined ? { cacheRead: rates.cacheReadPerMTok } : {}),
          ...(rates.cacheWritePerMTok !== undefined ? { cacheWrite: rates.cacheWritePerMTok } : {}),
        }),
      );
      return { source: 'operator', card };
    }
    return null;
  }

  private fromTable(provider: string, model: string): Resolved | null {
    for (const ref of tableLookups(provider, model)) {
      const card = this.table(ref.provider, ref.model);
      if (card) return { source: 'price_table', card };
    }
    return null;
  }
}

function reportsTokens(usage: Usage): boolean {
  return usage.inputTokens !== undefined || usage.outputTokens !== undefined || usage.cacheReadTokens !== undefined || usage.cacheWriteTokens !== undefined;
}
