// Micro-benchmark of the price book: ns per price() once rates are cached, and the one-off cost of a table lookup.
import { createPriceBook } from '../src/pricing/price-book.ts';
import { genaiRateCard } from '../src/pricing/genai-rates.ts';

const book = createPriceBook({});
const calls = [
  { provider: 'openai', model: 'gpt-4o', usage: { inputTokens: 464, cacheReadTokens: 1536, outputTokens: 80 } },
  { provider: 'openrouter', model: 'anthropic/claude-sonnet-4', usage: { inputTokens: 100, outputTokens: 50 } },
  { provider: 'google', model: 'gemini-2.5-pro', usage: { inputTokens: 250_000, outputTokens: 100 } },
  { provider: 'openai', model: 'nonexistent-model', usage: { inputTokens: 1, outputTokens: 1 } },
];
let sink = 0;
for (let i = 0; i < 100_000; i++) sink += book.price(calls[i % calls.length]!).costMicros ?? 0;
const rounds = 2_000_000;
let start = process.hrtime.bigint();
for (let i = 0; i < rounds; i++) sink += book.price(calls[i % calls.length]!).costMicros ?? 0;
console.log(`price() with cached rates            ${(Number(process.hrtime.bigint() - start) / rounds).toFixed(0).padStart(6)} ns/call`);

const lookups = 200;
start = process.hrtime.bigint();
for (let i = 0; i < lookups; i++) sink += genaiRateCard('openai', 'gpt-4o') ? 1 : 0;
console.log(`table lookup, hit (openai gpt-4o)      ${(Number(process.hrtime.bigint() - start) / lookups / 1000).toFixed(0).padStart(6)} µs`);
start = process.hrtime.bigint();
for (let i = 0; i < lookups; i++) sink += genaiRateCard('openrouter', 'nobody/nothing') ? 1 : 0;
console.log(`table lookup, miss (openrouter, 701 models) ${(Number(process.hrtime.bigint() - start) / lookups / 1000).toFixed(0).padStart(6)} µs`);
if (sink === 42) console.log('');
