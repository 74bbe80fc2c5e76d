// Formatting shared by the dashboard and the CLI: dollars from micro-dollars, counts, tokens, durations, tones.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatCount,
  formatDuration,
  formatPercent,
  formatSpend,
  formatTokens,
  formatUsd,
  formatUsdMicros,
  fractionTone,
} from '../../../src/dashboard/static/format.js';

describe('format', () => {
  it('prints money with sensible precision', () => {
    const cases: [number, string][] = [
      [0, '$0'],
      [1, '$0.000001'],
      [4200, '$0.0042'],
      [9999, '$0.009999'],
      [10_000, '$0.010'],
      [125_000, '$0.125'],
      [4_200_000, '$4.20'],
      [1_234_500_000, '$1,234.50'],
      [12_345_000_000, '$12,345'],
      [-4_200_000, '-$4.20'],
    ];
    for (const [micros, text] of cases) assert.equal(formatUsdMicros(micros), text, String(micros));
    assert.equal(formatUsd(0.788), '$0.788');
    assert.equal(formatUsdMicros(null), '–');
  });

  it('prints counts, tokens, percentages and durations', () => {
    assert.equal(formatCount(1234567), '1,234,567');
    assert.deepEqual([9100, 61_100, 1_200_000].map(formatTokens), ['9,100', '61.1k', '1.2M']);
    assert.deepEqual([0.8424, 0.045, 1, 0].map(formatPercent), ['84%', '4.5%', '100%', '0%']);
    assert.deepEqual([0, 999, 45_000, 185_000, 1_260_000, 4_980_000, 200_000_000].map(formatDuration), [
      'now',
      '1s',
      '45s',
      '3m 05s',
      '21m 00s',
      '1h 23m',
      '2d 7h',
    ]);
  });

  it('prints huge token counts in B and T, choosing the unit after rounding', () => {
    assert.deepEqual([999_999, 999_999_999, 3_377_699_720, 2 ** 51, 2 ** 53 - 1].map(formatTokens), ['1M', '1B', '3.38B', '2,252T', '9,007T']);
  });

  it('never prints a spend of only unpriced calls as $0', () => {
    assert.equal(formatSpend(0, 3), 'unknown');
    assert.equal(formatSpend(4_200_000, 3), '$4.20', 'priced spend is shown; the caller says how many calls had no price');
    assert.equal(formatSpend(0, 0), '$0');
    assert.equal(formatSpend(2 ** 53 - 1, 0), '$9,007,199,255');
  });

  it('colours a used fraction: ok, warn from 60%, high from 80%, over at 100%', () => {
    assert.deepEqual([0.1, 0.6, 0.8, 1, 1.4].map(fractionTone), ['ok', 'warn', 'high', 'over', 'over']);
  });
});
