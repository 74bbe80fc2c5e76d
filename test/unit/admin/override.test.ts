// Override bodies: strict fields, a required reason, nulls dropped, set_by defaulted, past expiry refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdminError } from '../../../src/admin/http.ts';
import { overrideContent } from '../../../src/admin/override.ts';

const NOW = Date.parse('2026-03-01T00:00:00Z');

function refusal(body: unknown): AdminError {
  try {
    overrideContent(body, NOW);
  } catch (error) {
    assert.ok(error instanceof AdminError);
    return error;
  }
  assert.fail('expected a refusal');
}

describe('overrideContent', () => {
  it('keeps what is set, drops nulls, defaults set_by', () => {
    assert.deepEqual(overrideContent({ limit_usd: 2, window: '1h', behavior: null, reason: ' launch ' }, NOW), { limit_usd: 2, window: '1h', reason: 'launch', set_by: 'admin-api' });
    assert.deepEqual(
      overrideContent({ limits: [{ limit_usd: 5, window: '1h' }], shared: ['team'], reason: 'r', set_by: 'ops', expires_at: '2026-03-02T00:00:00Z' }, NOW),
      { limits: [{ limit_usd: 5, window: '1h' }], shared: ['team'], reason: 'r', set_by: 'ops', expires_at: '2026-03-02T00:00:00Z' },
    );
  });

  it('refuses unknown fields, wrong types, a missing reason, no budget field, and a past or malformed expiry', () => {
    assert.match(refusal({ limit_usd: 1, reason: 'r', colour: 'red' }).message, /colour/);
    assert.match(refusal({ limit_usd: '1', reason: 'r' }).message, /limit_usd/);
    assert.match(refusal({ max_requests: 1.5, reason: 'r' }).message, /max_requests/);
    assert.match(refusal({ limit_usd: 1 }).message, /reason/);
    assert.match(refusal({ limit_usd: 1, reason: '   ' }).message, /reason/);
    assert.match(refusal({ reason: 'r', behavior: null }).message, /at least one budget field/);
    assert.match(refusal({ limit_usd: 1, reason: 'r', expires_at: '2026-02-01T00:00:00Z' }).message, /past/);
    assert.match(refusal({ limit_usd: 1, reason: 'r', expires_at: 'tomorrow' }).message, /expires_at/);
    assert.equal(refusal(null).code, 'invalid_request');
    assert.equal(refusal([1]).status, 400);
  });
});
