// Tolerant usage-field readers: a reported cost is a number or a decimal string, nothing else Number() would take.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { usdAmount } from '../../../src/protocol/usage-fields.ts';

describe('usdAmount', () => {
  it('reads numbers and decimal strings', () => {
    assert.deepEqual([0.0042, '0.0042', ' 1e-5 ', '3', '.5', '2.'].map(usdAmount), [0.0042, 0.0042, 0.00001, 3, 0.5, 2]);
  });
  it('refuses what is not a decimal amount, as absent', () => {
    assert.deepEqual(['0x10', 'Infinity', '', ' ', '1,5', '$1', '-1', -1, NaN, Infinity, null, true, [1]].map(usdAmount), Array(13).fill(undefined));
  });
});
