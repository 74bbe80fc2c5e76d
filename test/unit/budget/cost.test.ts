// Reservation amounts: estimated tokens priced at the rates of the tier the estimate falls in, rounded up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateAmounts } from '../../../src/budget/cost.ts';
import { createPriceBook } from '../../../src/pricing/price-book.ts';

const pricer = createPriceBook({ operatorPrices: null });
/** The USD hold (micro-dollars) of a gemini-2.5-pro request with these estimated tokens. */
function heldMicros(inputTokens: number, outputTokens: number): number {
  const estimate = estimateAmounts({ pricer, provider: 'google', model: 'gemini-2.5-pro', inputTokens, outputTokens, unknownCost: 'count_zero', fallbackRates: null });
  assert.equal(estimate.blocked, false);
  return estimate.blocked ? Number.NaN : estimate.amounts.usd_micros ?? Number.NaN;
}

test('a long-context estimate holds the long-context price, never less than the call can cost', () => {
  // gemini-2.5-pro: $1.25 / $10 per Mtok up to 200k input tokens, $2.5 / $15 above
  assert.equal(heldMicros(100_000, 1_000), 125_000 + 10_000);
  assert.equal(heldMicros(250_000, 1_000), 625_000 + 15_000);
  const actual = pricer.price({ provider: 'google', model: 'gemini-2.5-pro', usage: { inputTokens: 250_000, outputTokens: 1_000 } });
  assert.ok(heldMicros(250_000, 1_000) >= (actual.costMicros ?? Infinity), 'the hold covers the settled cost');
});
