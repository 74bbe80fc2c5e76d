// Windows in every accepted format, refusals, and OpenAI-style reset strings.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatResetDuration, parseWindow, retryAfterSeconds } from '../../../src/budget/duration.ts';

describe('parseWindow', () => {
  const accepted: [string, number][] = [
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['24h', 86_400_000],
    ['500ms', 500],
    ['7d', 604_800_000],
    ['1d12h', 129_600_000],
    ['1.5h', 5_400_000],
    ['2h45m30s', 9_930_000],
    ['1000us', 1],
    ['1000000ns', 1],
    [' 1h ', 3_600_000],
    ['+2s', 2_000],
  ];
  for (const [text, ms] of accepted) {
    it(`reads ${JSON.stringify(text)} as ${ms} ms`, () => assert.equal(parseWindow(text), ms));
  }
  const refused = ['', '   ', '0', '0s', '1', 'h', '-1h', '1 h', '1w', '1H', 'abc', '1h-5m', '100ns', '1h 30m', '.'];
  for (const text of refused) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.equal(parseWindow(text), null));
  }
});

describe('formatResetDuration', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [-5, '0s'],
    [1, '1ms'],
    [120, '120ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [1001, '1.001s'],
    [59_999, '59.999s'],
    [60_000, '1m0s'],
    [360_000, '6m0s'],
    [3_723_000, '1h2m3s'],
    [3_600_000, '1h0m0s'],
    [86_400_000, '24h0m0s'],
    [0.2, '1ms'],
  ];
  for (const [ms, text] of cases) {
    it(`writes ${ms} ms as ${text}`, () => assert.equal(formatResetDuration(ms), text));
  }
});

describe('retryAfterSeconds', () => {
  it('rounds up to whole seconds with a minimum of 1', () => {
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(0), 1);
    assert.equal(retryAfterSeconds(1000), 1);
    assert.equal(retryAfterSeconds(1001), 2);
    assert.equal(retryAfterSeconds(3_600_000), 3600);
  });
});
