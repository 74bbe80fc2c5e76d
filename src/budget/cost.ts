// A call's ledger amounts: the reservation (estimated tokens priced at the model's rates, rounded up) and their shape when settled.
import type { Amounts } from '../ledger/ledger.ts';
import { ledgerAmount } from '../ledger/amounts.ts';
import { flatRateMicros } from '../pricing/money.ts';
import type { ModelRates, Pricer } from '../pricing/pricer.ts';
import type { FallbackRates, UnknownCostMode } from './policy/fields.ts';
import type { EffectivePolicy } from './policy/policy.ts';

export type PricedEstimate = { readonly blocked: false; readonly amounts: Amounts; readonly unknownPrice: boolean } | { readonly blocked: true };

/**
 * Reservation amounts for one request. The USD estimate is `input × input rate + output cap × output rate` in
 * micro-dollars (rates are USD per million tokens = micro-dollars per token), rounded up. A model without a price
 * follows `unknown_cost`: `block` refuses, `estimate` prices at the fallback rates, `count_zero` reserves $0.
 */
export function estimateAmounts(input: {
  pricer: Pricer;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  unknownCost: UnknownCostMode;
  fallbackRates: FallbackRates | null;
}): PricedEstimate {
  const inputTokens = Math.max(0, Math.ceil(input.inputTokens));
  const outputTokens = Math.max(0, Math.ceil(input.outputTokens));
  // priced at the tier of the estimated input size: the estimate is an upper bound, so is the tier
  let rates: ModelRates | null = input.pricer.rates(input.provider, input.model, inputTokens);
  const unknownPrice = rates === null;
  if (!rates) {
    if (input.unknownCost === 'block') return { blocked: true };
    if (input.unknownCost === 'estimate' && input.fallbackRates)
      rates = { inputPerMTok: input.fallbackRates.input_per_mtok, outputPerMTok: input.fallbackRates.output_per_mtok };
  }
  const usdMicros = rates ? flatRateMicros({ inputTokens, outputTokens, inputPerMTok: rates.inputPerMTok, outputPerMTok: rates.outputPerMTok }) : 0;
  return { blocked: false, unknownPrice, amounts: callAmounts({ usdMicros, inputTokens, outputTokens, unknownPrice }) };
}

/** One call's ledger amounts (reserved or settled): one request, its tokens and micro-dollars, as safe integers. */
export function callAmounts(input: { usdMicros: number; inputTokens: number; outputTokens: number; unknownPrice: boolean }): Amounts {
  return {
    usd_micros: ledgerAmount(input.usdMicros),
    requests: 1,
    input_tokens: ledgerAmount(input.inputTokens),
    output_tokens: ledgerAmount(input.outputTokens),
    total_tokens: ledgerAmount(input.inputTokens + input.outputTokens),
    unknown_cost_requests: input.unknownPrice ? 1 : 0,
  };
}

/**
 * What a model without a price is charged at under `unknown_cost: "estimate"`: the policy's `fallback_rates`, else the
 * highest rates the price book knows for the provider (the default whenever a USD limit applies). Null otherwise.
 */
export function unknownPriceRates(input: {
  policy: EffectivePolicy;
  pricer: Pricer;
  target: { readonly provider: string; readonly model: string };
}): FallbackRates | null {
  const { policy } = input;
  if (policy.unknownCost !== 'estimate' || policy.fallbackRates) return policy.fallbackRates;
  const ceiling = input.pricer.ceilingRates(input.target.provider, input.target.model);
  return { input_per_mtok: ceiling.inputPerMTok, output_per_mtok: ceiling.outputPerMTok };
}
