// Pricing types: usage → integer micro-dollars. The implementation (price-book.ts) is pure after start-up.
import type { Usage } from '../protocol/usage.ts';

/** Rates in USD per million tokens, which is also micro-dollars per token. */
export interface ModelRates {
  readonly inputPerMTok: number;
  readonly outputPerMTok: number;
  readonly cacheReadPerMTok?: number;
  readonly cacheWritePerMTok?: number;
}

export type PriceSource = 'provider_reported' | 'operator' | 'price_table' | 'unknown';

export interface PriceQuote {
  /** Integer micro-dollars, or null when the cost is unknown (never silently 0). */
  readonly costMicros: number | null;
  readonly source: PriceSource;
}

export interface Pricer {
  /**
   * Rates for a model, looked up once per (provider, model) and cached; null when unknown. With `inputTokens`, the
   * rates of the tier a request of that many input tokens falls in (long-context tiers cost more), else the base tier.
   */
  rates(provider: string, model: string, inputTokens?: number): ModelRates | null;
  /**
   * The conservative rates for a model without a price: the highest the price table lists for its provider (through a
   * gateway, for the vendor its name starts with), raised by any operator price of that provider; for a provider the
   * table does not know, the highest of the table's widest providers. Never null.
   */
  ceilingRates(provider: string, model: string): ModelRates;
  /** Cost of one call. Provider-reported cost wins when present. */
  price(input: { readonly provider: string; readonly model: string; readonly usage: Usage }): PriceQuote;
}
