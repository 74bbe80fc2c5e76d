// Query parsing on the UI port: RFC3339 times and page limits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdminError, parseRfc3339, queryLimit, queryTime } from '../../../src/admin/http.ts';

describe('query parsing', () => {
  it('accepts RFC3339 with an offset or Z, and nothing else', () => {
    assert.equal(parseRfc3339('2026-03-01T12:00:00Z'), Date.parse('2026-03-01T12:00:00Z'));
    assert.equal(parseRfc3339('2026-03-01T12:00:00.123+02:00'), Date.parse('2026-03-01T10:00:00.123Z'));
    for (const bad of ['yesterday', '2026-03-01', '2026-03-01T12:00:00', '1700000000', '2026-13-01T12:00:00Z']) assert.equal(parseRfc3339(bad), null, bad);
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
