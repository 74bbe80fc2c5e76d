// The conservative rate for a model without a price: the most any model of its provider charges per token in the bundled price table.
import { findProvider, type ModelPrice } from '@pydantic/genai-prices';
import type { ModelRates } from './pricer.ts';

/** Table providers whose ceiling stands in for a provider the table does not know (ollama, an operator-defined one). */
const WIDEST_PROVIDERS = ['openai', 'anthropic', 'google', 'x-ai', 'openrouter'];

/**
 * The highest input and output rates (USD per million tokens) among every model, price entry and long-context tier the
 * table lists for `provider`; input also covers cache-write and cache-read rates, which a usage without a price is
 * charged at the input rate. Null when the table has no such provider or it prices nothing per token.
 */
export function tableCeiling(provider: string): ModelRates | null {
  let found: ReturnType<typeof findProvider>;
  try {
    found = findProvider({ providerId: provider });
  } catch {
    return null;
  }
  if (!found) return null;
  let input = 0;
  let output = 0;
  for (const model of found.models) {
    const entries: ModelPrice[] = Array.isArray(model.prices) ? model.prices.map((entry) => entry.prices) : [model.prices];
    for (const prices of entries) {
      input = Math.max(input, highest(prices.input_mtok), highest(prices.cache_write_mtok), highest(prices.cache_read_mtok));
      output = Math.max(output, highest(prices.output_mtok));
    }
  }
  return input > 0 || output > 0 ? { inputPerMTok: input, outputPerMTok: output } : null;
}

/** The ceiling of the table's widest providers: for a provider it does not know. */
export function widestCeiling(ceiling: (provider: string) => ModelRates | null = tableCeiling): ModelRates {
  let widest: ModelRates = { inputPerMTok: 0, outputPerMTok: 0 };
  for (const provider of WIDEST_PROVIDERS) {
    const rates = ceiling(provider);
    if (rates) widest = higher(widest, rates);
  }
  return widest;
}

/** Each rate the higher of the two. */
export function higher(a: ModelRates, b: ModelRates): ModelRates {
  return { inputPerMTok: Math.max(a.inputPerMTok, b.inputPerMTok), outputPerMTok: Math.max(a.outputPerMTok, b.outputPerMTok) };
}

/** The highest price of a rate: flat, or the base and every tier. */
function highest(rate: unknown): number {
  if (typeof rate === 'number' && Number.isFinite(rate)) return rate;
  if (typeof rate !== 'object' || rate === null) return 0;
  const { base, tiers } = rate as { base?: unknown; tiers?: unknown };
  let top = typeof base === 'number' && Number.isFinite(base) ? base : 0;
  if (Array.isArray(tiers))
    for (const tier of tiers as { price?: unknown }[]) if (typeof tier?.price === 'number' && Number.isFinite(tier.price)) top = Math.max(top, tier.price);
  return top;
}
