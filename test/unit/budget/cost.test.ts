// Reservation amounts: estimated tokens priced at the rates of the tier the estimate falls in, rounded up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateAmounts } from '../../../src/budget/cost.ts';
import { createPriceBook } from '../../../src/pricing/price-book.ts';
import { settleAmounts } from '../../../src/budget/ticket.ts';
import { toRow } from '../../../src/ledger/amounts.ts';

const pricer = createPriceBook({ operatorPrices: null });
/** The USD hold (micro-dollars) of a gemini-2.5-pro request with these estimated tokens. */
function heldMicros(inputTokens: number, outputTokens: number): number {
  const estimate = estimateAmounts({
    pricer,
    provider: 'google',
    model: 'gemini-2.5-pro',
    inputTokens,
    outputTokens,
    unknownCost: 'count_zero',
    fallbackRates: null,
  });
  assert.equal(estimate.blocked, false);
  return estimate.blocked ? Number.NaN : (estimate.amounts.usd_micros ?? Number.NaN);
}

test('a long-context estimate holds the long-context price, never less than the call can cost', () => {
  // gemini-2.5-pro: $1.25 / $10 per Mtok up to 200k input tokens, $2.5 / $15 above
  assert.equal(heldMicros(100_000, 1_000), 125_000 + 10_000);
  assert.equal(heldMicros(250_000, 1_000), 625_000 + 15_000);
  const actual = pricer.price({ provider: 'google', model: 'gemini-2.5-pro', usage: { inputTokens: 250_000, outputTokens: 1_000 } });
  assert.ok(heldMicros(250_000, 1_000) >= (actual.costMicros ?? Infinity), 'the hold covers the settled cost');
});

test('an absurd estimate or charge is held at the largest safe integer, which the ledger takes and every limit refuses', () => {
  assert.equal(heldMicros(10, 1e15), Number.MAX_SAFE_INTEGER, '1e15 output tokens at $10/Mtok is 1e16 micro-dollars');
  const estimate = estimateAmounts({
    pricer,
    provider: 'google',
    model: 'gemini-2.5-pro',
    inputTokens: 10,
    outputTokens: 2 ** 60,
    unknownCost: 'count_zero',
    fallbackRates: null,
  });
  assert.ok(!estimate.blocked && estimate.amounts.output_tokens === Number.MAX_SAFE_INTEGER && estimate.amounts.total_tokens === Number.MAX_SAFE_INTEGER);
  const settled = settleAmounts({
    actual: { usage: { inputTokens: 5, outputTokens: Number.MAX_SAFE_INTEGER - 1 }, costMicros: 9e16 },
    unknownCost: 'count_zero',
    fallbackRates: null,
  });
  assert.deepEqual(settled, {
    usd_micros: Number.MAX_SAFE_INTEGER,
    requests: 1,
    input_tokens: 5,
    output_tokens: Number.MAX_SAFE_INTEGER - 1,
    total_tokens: Number.MAX_SAFE_INTEGER,
    unknown_cost_requests: 0,
  });
  assert.doesNotThrow(() => toRow(settled));
});
