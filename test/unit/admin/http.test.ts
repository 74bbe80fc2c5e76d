// Query parsing on the UI port: RFC3339 times and page limits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdminError, queryLimit, queryTime } from '../../../src/admin/http.ts';
import { parseRfc3339 } from '../../../src/http/rfc3339.ts';

describe('query parsing', () => {
  it('accepts RFC3339 with an offset or Z, and nothing else', () => {
    assert.equal(parseRfc3339('2026-03-01T12:00:00Z'), Date.parse('2026-03-01T12:00:00Z'));
    assert.equal(parseRfc3339('2026-03-01T12:00:00.123+02:00'), Date.parse('2026-03-01T10:00:00.123Z'));
    for (const bad of ['yesterday', '2026-03-01', '2026-03-01T12:00:00', '1700000000', '2026-13-01T12:00:00Z']) assert.equal(parseRfc3339(bad), null, bad);
    // a date or time that does not exist is refused (as Go's parser does), not rolled over into the next month or day
    for (const impossible of [
      '2026-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T23:60:00Z',
      '2026-01-01T23:59:60Z',
      '2026-01-01T00:00:00+24:00',
      '2026-01-01T00:00:00+01:60',
      '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z',
    ]) {
      assert.equal(parseRfc3339(impossible), null, impossible);
    }
    for (const leap of ['2024-02-29T00:00:00Z', '2000-02-29T23:59:59-23:59', '0000-02-29T00:00:00Z']) assert.equal(parseRfc3339(leap), Date.parse(leap), leap);
    assert.equal(queryTime(new URLSearchParams(''), 'after'), null);
    assert.throws(() => queryTime(new URLSearchParams('after=soon'), 'after'), AdminError);
  });

  it('reads page limits: default, clamp, refusals', () => {
    const limit = (query: string) => queryLimit(new URLSearchParams(query), { fallback: 50, max: 1000 });
    assert.equal(limit(''), 50);
    assert.equal(limit('limit=7'), 7);
    assert.equal(limit('limit=5000'), 1000);
    assert.throws(() => limit('limit=0'), /> 0/);
    assert.throws(() => limit('limit=1.5'), /integer/);
    assert.throws(() => limit('limit=x'), /integer/);
  });
});
