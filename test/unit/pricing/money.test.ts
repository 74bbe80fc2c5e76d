// Tests for money conversion at the edges and micro-dollar rounding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { microsToUsd, roundMicros, usdToMicros } from '../../../src/pricing/money.ts';

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
