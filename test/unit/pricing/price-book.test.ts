// Tests for the price book: cllama's cost cases in exact micro-dollars, cache tokens, gateways, tiers, conditions, caching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPriceBook } from '../../../src/pricing/price-book.ts';
import { parseOperatorPrices } from '../../../src/pricing/operator-prices.ts';
import { genaiRateCard } from '../../../src/pricing/genai-rates.ts';
import type { RateCard } from '../../../src/pricing/rate-card.ts';
import type { Usage } from '../../../src/protocol/usage.ts';

const book = createPriceBook({});
const price = (provider: string, model: string, usage: Usage) => book.price({ provider, model, usage });

test('cllama cost cases, exact micro-dollars from the bundled table', () => {
  assert.deepEqual(price('openrouter', 'anthropic/claude-sonnet-4', { inputTokens: 100, outputTokens: 50 }), { costMicros: 1050, source: 'price_table' });
  assert.deepEqual(price('openai', 'gpt-4o', { inputTokens: 200, outputTokens: 80 }), { costMicros: 1300, source: 'price_table' });
  assert.deepEqual(price('anthropic', 'claude-sonnet-4-20250514', { inputTokens: 180, outputTokens: 60 }), { costMicros: 1440, source: 'price_table' });
  assert.deepEqual(price('anthropic', 'claude-sonnet-4-20250514', { inputTokens: 140, outputTokens: 45 }), { costMicros: 1095, source: 'price_table' });
  assert.deepEqual(price('openai', 'gpt-4o', { inputTokens: 100, outputTokens: 50 }), { costMicros: 750, source: 'price_table' });
});

test('provider-reported cost wins and is converted to micro-dollars', () => {
  assert.deepEqual(price('openrouter', 'google/nonexistent-model', { inputTokens: 10, outputTokens: 5, reportedCostUsd: 0.1234 }), {
    costMicros: 123400,
    source: 'provider_reported',
  });
  assert.deepEqual(price('openrouter', 'openai/gpt-4o', { inputTokens: 100, outputTokens: 50, reportedCostUsd: 0 }), {
    costMicros: 0,
    source: 'provider_reported',
  });
  assert.deepEqual(price('openrouter', 'x/y', { reportedCostUsd: 0.0000005 }), { costMicros: 1, source: 'provider_reported' });
});

test('a model without a price is unknown, never $0', () => {
  const unknown = { costMicros: null, source: 'unknown' };
  assert.deepEqual(price('openai', 'nonexistent-model', { inputTokens: 240, outputTokens: 90 }), unknown);
  assert.deepEqual(price('openrouter', 'openai/nonexistent-model', { inputTokens: 240, outputTokens: 90 }), unknown);
  assert.deepEqual(price('ollama', 'llama3', { inputTokens: 1, outputTokens: 1 }), unknown);
  assert.equal(book.rates('openai', 'nonexistent-model'), null);
});

test('usage that reports no tokens is unknown; zero tokens cost zero', () => {
  assert.deepEqual(price('openai', 'gpt-4o', {}), { costMicros: null, source: 'unknown' });
  assert.deepEqual(price('openai', 'gpt-4o', { inputTokens: 0, outputTokens: 0 }), { costMicros: 0, source: 'price_table' });
  assert.deepEqual(price('openai', 'gpt-4o', { inputTokens: 1000 }), { costMicros: 2500, source: 'price_table' }, 'absent output counts as 0 tokens');
});

test('cache tokens are priced at their own rates (anthropic: write 3.75, read 0.30 per MTok)', () => {
  const usage = { inputTokens: 100, outputTokens: 50, cacheWriteTokens: 1000, cacheReadTokens: 10_000 };
  // 100×3 + 50×15 + 1000×3.75 + 10000×0.3 = 300 + 750 + 3750 + 3000
  assert.deepEqual(price('anthropic', 'claude-sonnet-4-20250514', usage), { costMicros: 7800, source: 'price_table' });
  assert.deepEqual(price('openrouter', 'anthropic/claude-sonnet-4', usage), { costMicros: 7800, source: 'price_table' });
});

test('cache tokens are priced at their own rates (openai: cached input 1.25 per MTok)', () => {
  // prompt 2000 with 1536 cached → 464×2.5 + 1536×1.25 + 10×10 = 1160 + 1920 + 100
  assert.deepEqual(price('openai', 'gpt-4o', { inputTokens: 464, cacheReadTokens: 1536, outputTokens: 10 }), { costMicros: 3180, source: 'price_table' });
  // through openrouter the vendor's entry (which has the cache rate) is used
  assert.deepEqual(price('openrouter', 'openai/gpt-4o', { inputTokens: 464, cacheReadTokens: 1536, outputTokens: 10 }), {
    costMicros: 3180,
    source: 'price_table',
  });
});

test('gateway and dated model names find the vendor entry', () => {
  assert.deepEqual(price('vercel', 'anthropic/claude-sonnet-4.6', { inputTokens: 100, outputTokens: 50 }), { costMicros: 1050, source: 'price_table' });
  assert.deepEqual(book.rates('openrouter', 'anthropic/claude-sonnet-4'), {
    inputPerMTok: 3,
    outputPerMTok: 15,
    cacheReadPerMTok: 0.3,
    cacheWritePerMTok: 3.75,
  });
  assert.deepEqual(book.rates('openrouter', 'Anthropic/Claude-Sonnet-4-20250514'), {
    inputPerMTok: 3,
    outputPerMTok: 15,
    cacheReadPerMTok: 0.3,
    cacheWritePerMTok: 3.75,
  });
  assert.equal(book.rates('xai', 'grok-4')?.inputPerMTok, 3);
});

test("tiered prices: the request's total input tokens pick the tier for every rate", () => {
  // gemini-2.5-pro: input 1.25 → 2.5, cache read 0.125 → 0.25, output 10 → 15 above 200k input tokens
  assert.equal(price('google', 'gemini-2.5-pro', { inputTokens: 200_000, outputTokens: 100 }).costMicros, 250_000 + 1_000);
  assert.equal(price('google', 'gemini-2.5-pro', { inputTokens: 250_000, outputTokens: 100 }).costMicros, 625_000 + 1_500);
  assert.equal(price('google', 'gemini-2.5-pro', { inputTokens: 100_000, cacheReadTokens: 150_000 }).costMicros, 250_000 + 37_500);
  assert.deepEqual(book.rates('google', 'gemini-2.5-pro'), { inputPerMTok: 1.25, outputPerMTok: 10, cacheReadPerMTok: 0.125 });
  // what a reservation prices an estimate at: the tier of its input size
  assert.deepEqual(book.rates('google', 'gemini-2.5-pro', 200_000), { inputPerMTok: 1.25, outputPerMTok: 10, cacheReadPerMTok: 0.125 });
  assert.equal(book.rates('google', 'gemini-2.5-pro', 250_000)?.inputPerMTok, 2.5);
  assert.equal(book.rates('google', 'gemini-2.5-pro', 250_000)?.outputPerMTok, 15);
});

test('date and time-of-day conditions follow the injected clock', () => {
  let now = Date.parse('2026-03-01T12:00:00Z');
  const timed = createPriceBook({ now: () => now });
  // claude-sonnet-4-6 had a long-context tier until 2026-03-13
  assert.equal(timed.price({ provider: 'anthropic', model: 'claude-sonnet-4-6', usage: { inputTokens: 250_000 } }).costMicros, 1_500_000);
  now = Date.parse('2026-04-01T12:00:00Z');
  assert.equal(timed.price({ provider: 'anthropic', model: 'claude-sonnet-4-6', usage: { inputTokens: 250_000 } }).costMicros, 750_000);
  // deepseek-chat: standard price 00:30–16:30 UTC, discount outside
  const usage = { inputTokens: 1000, outputTokens: 1000 };
  now = Date.parse('2026-04-01T02:00:00Z');
  assert.equal(timed.price({ provider: 'deepseek', model: 'deepseek-chat', usage }).costMicros, 270 + 1100);
  now = Date.parse('2026-04-01T18:00:00Z');
  assert.equal(timed.price({ provider: 'deepseek', model: 'deepseek-chat', usage }).costMicros, 135 + 550);
});

const OPERATOR = parseOperatorPrices(
  JSON.stringify({
    models: {
      'openai/gpt-4o': { input_per_mtok: 1, output_per_mtok: 2 },
      'my-local-model': { input_per_mtok: 0.5, output_per_mtok: 0.5 },
      'claude-house': { input_per_mtok: 2, output_per_mtok: 4, cache_read_per_mtok: 0.2, cache_write_per_mtok: 2.5 },
      'ollama/llama3': { input_per_mtok: 0, output_per_mtok: 0 },
    },
  }),
  'prices.json',
);

test('operator prices override and add to the table', () => {
  const withOperator = createPriceBook({ operatorPrices: OPERATOR });
  const priceOf = (provider: string, model: string, usage: Usage) => withOperator.price({ provider, model, usage });
  assert.deepEqual(priceOf('openai', 'gpt-4o', { inputTokens: 100, outputTokens: 50 }), { costMicros: 200, source: 'operator' });
  assert.deepEqual(priceOf('openai', 'gpt-4o-mini', { inputTokens: 1_000_000 }), { costMicros: 150_000, source: 'price_table' });
  assert.deepEqual(priceOf('ollama', 'llama3', { inputTokens: 5000, outputTokens: 5000 }), { costMicros: 0, source: 'operator' });
  assert.deepEqual(priceOf('vllm', 'my-local-model', { inputTokens: 3, outputTokens: 0 }), { costMicros: 2, source: 'operator' }, '1.5 rounds up');
  assert.deepEqual(
    priceOf('anthropic', 'claude-house-20250101', { inputTokens: 10, cacheReadTokens: 100, cacheWriteTokens: 100, outputTokens: 10 }),
    { costMicros: 20 + 20 + 250 + 40, source: 'operator' },
    'dated name finds the undated key; cache rates used',
  );
  assert.deepEqual(priceOf('openrouter', 'acme/claude-house', { inputTokens: 10 }), { costMicros: 20, source: 'operator' }, 'gateway name finds the bare key');
  assert.deepEqual(priceOf('openrouter', 'x/unknown', { reportedCostUsd: 0.002, inputTokens: 10 }), { costMicros: 2000, source: 'provider_reported' });
  assert.deepEqual(withOperator.rates('openai', 'gpt-4o'), { inputPerMTok: 1, outputPerMTok: 2 });
});

test('cache tokens without a cache rate in the data fall back to the input rate', () => {
  const withOperator = createPriceBook({ operatorPrices: OPERATOR });
  assert.deepEqual(withOperator.price({ provider: 'x', model: 'my-local-model', usage: { cacheReadTokens: 4, cacheWriteTokens: 4 } }), {
    costMicros: 4,
    source: 'operator',
  });
});

test('rounding: the sum is rounded once to the nearest micro-dollar, ties up', () => {
  const card = (input: number, output: number): RateCard => ({
    options: [
      { condition: { kind: 'always' }, rates: { input, output, cacheRead: input, cacheWrite: input, flat: { inputPerMTok: input, outputPerMTok: output } } },
    ],
  });
  const exact = createPriceBook({ priceTable: () => card(0.3, 0.1) });
  const quote = (usage: Usage) => exact.price({ provider: 'p', model: 'm', usage }).costMicros;
  assert.equal(quote({ inputTokens: 3, outputTokens: 3 }), 1, '0.9 + 0.3 = 1.2 → 1, not 0 + 0');
  assert.equal(quote({ inputTokens: 5 }), 2, '1.5 → 2');
  assert.equal(quote({ outputTokens: 3 }), 0, '0.30000000000000004 → 0');
  assert.equal(quote({ outputTokens: 5 }), 1, '0.5 → 1 (ties up)');
});

test('rates are looked up once per (provider, model), including misses', () => {
  const calls: string[] = [];
  const counted = createPriceBook({
    priceTable: (provider, model) => {
      calls.push(`${provider}|${model}`);
      return genaiRateCard(provider, model);
    },
  });
  for (let i = 0; i < 5; i++) {
    counted.rates('openai', 'gpt-4o');
    counted.price({ provider: 'openai', model: 'gpt-4o', usage: { inputTokens: 1 } });
    counted.price({ provider: 'openrouter', model: 'meta-llama/nothing', usage: { inputTokens: 1 } });
  }
  assert.deepEqual(calls, ['openai|gpt-4o', 'meta-llama|nothing', 'openrouter|meta-llama/nothing']);
});

test('the lookup cache is bounded', () => {
  let calls = 0;
  const bounded = createPriceBook({
    maxCachedModels: 2,
    priceTable: () => {
      calls++;
      return null;
    },
  });
  for (const model of ['a', 'b', 'c', 'a']) bounded.rates('p', model);
  assert.equal(calls, 4, 'cache emptied when full, so a is looked up again');
  bounded.rates('p', 'a');
  assert.equal(calls, 4);
});

test('ceiling rates: the most a provider charges, for the models the table does not price', () => {
  const atLeast = (rates: { inputPerMTok: number; outputPerMTok: number }, floor: { inputPerMTok: number; outputPerMTok: number }, label: string) =>
    assert.ok(
      rates.inputPerMTok >= floor.inputPerMTok && rates.outputPerMTok >= floor.outputPerMTok,
      `${label}: ${JSON.stringify(rates)} ≥ ${JSON.stringify(floor)}`,
    );
  const openai = book.ceilingRates('openai', 'gpt-9-ultra');
  for (const model of ['gpt-4o', 'gpt-4.1', 'o3', 'gpt-4.5-preview'])
    atLeast(openai, book.rates('openai', model) ?? { inputPerMTok: 0, outputPerMTok: 0 }, `openai vs ${model}`);
  atLeast(book.ceilingRates('anthropic', 'claude-new'), book.rates('anthropic', 'claude-opus-4-1')!, 'anthropic vs opus');
  // through a gateway, the vendor's ceiling; a provider the table does not know, the widest providers'
  assert.deepEqual(book.ceilingRates('openrouter', 'anthropic/claude-new'), book.ceilingRates('anthropic', 'x'));
  atLeast(book.ceilingRates('ollama', 'llama9'), openai, 'unknown provider vs openai');
  assert.deepEqual(book.ceilingRates('ollama', 'llama9'), book.ceilingRates('vercel', 'acme-model'));

  const injected = createPriceBook({
    ceilingTable: (provider) => (provider === 'openai' ? { inputPerMTok: 5, outputPerMTok: 20 } : null),
    operatorPrices: parseOperatorPrices(
      JSON.stringify({ models: { 'openai/house-model': { input_per_mtok: 1, output_per_mtok: 90 }, 'acme/big': { input_per_mtok: 7, output_per_mtok: 8 } } }),
      'prices.json',
    ),
  });
  assert.deepEqual(injected.ceilingRates('openai', 'new'), { inputPerMTok: 5, outputPerMTok: 90 }, 'an operator price of the provider raises its ceiling');
  assert.deepEqual(
    injected.ceilingRates('acme', 'other'),
    { inputPerMTok: 7, outputPerMTok: 20 },
    'unknown to the table: the widest, raised by its own operator prices',
  );
});
