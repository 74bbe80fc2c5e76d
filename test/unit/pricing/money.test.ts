// Tests for money conversion at the edges and micro-dollar rounding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ceilMicros, flatRateMicros, microsToUsd, microsToUsdText, roundMicros, usdToMicros } from '../../../src/pricing/money.ts';

test('usd ↔ micro-dollars', () => {
  assert.equal(usdToMicros(0.1234), 123400);
  assert.equal(usdToMicros(0.00105), 1050);
  assert.equal(usdToMicros(0), 0);
  assert.equal(usdToMicros(0.0000005), 1, 'half a micro-dollar rounds up');
  assert.equal(usdToMicros(0.0000004999), 0);
  assert.equal(usdToMicros(1234.5678901), 1234567890);
  assert.equal(microsToUsd(1050), 0.00105);
  assert.equal(microsToUsd(123400), 0.1234);
});

test('roundMicros snaps float noise before rounding', () => {
  assert.equal(roundMicros(0.3 * 5), 2);
  assert.equal(roundMicros(1.4999999999999998), 2, 'a value that is 1.5 up to float noise rounds up');
  assert.equal(roundMicros(1.4999), 1);
  assert.equal(roundMicros(899.9999999999999), 900);
});

test('micro-dollars as exact USD text (headers), the same amount as microsToUsd', () => {
  const cases: Array<[number, string]> = [
    [0, '0'],
    [1, '0.000001'],
    [125, '0.000125'],
    [1_500_000, '1.5'],
    [-2_000_001, '-2.000001'],
    [Number.MAX_SAFE_INTEGER, '9007199254.740991'],
  ];
  for (const [micros, text] of cases) assert.equal(microsToUsdText(micros), text);
  let seed = 7;
  for (let i = 0; i < 10_000; i++) {
    seed = (seed * 48271) % 2147483647;
    const micros = seed * (i % 7 === 0 ? 4096 : 1);
    assert.equal(microsToUsd(micros), Number(microsToUsdText(micros)), String(micros));
  }
});

test('usage at flat per-million-token rates: micro-dollars rounded up past float noise', () => {
  assert.equal(flatRateMicros({ inputTokens: 1000, outputTokens: 500, inputPerMTok: 2.5, outputPerMTok: 10 }), 7500);
  assert.equal(flatRateMicros({ inputTokens: 7, outputTokens: 0, inputPerMTok: 0.01, outputPerMTok: 0 }), 1, '7 × 0.01 µ$ rounds up to 1');
  assert.equal(flatRateMicros({ inputTokens: 3, outputTokens: 0, inputPerMTok: 0.1, outputPerMTok: 0 }), 1);
  assert.equal(ceilMicros(0.30000000000000004 * 10), 3, 'noise above a whole micro-dollar is not a micro-dollar more');
  assert.equal(ceilMicros(-5), 0);
});
