// Policy sources: merge order and provenance, expiry, shared and model-scoped limits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CTX, GOV, META, policy } from './policy-setup.ts';

describe('merge', () => {
  it('keeps a plain cllama policy unchanged', () => {
    const result = policy({ metadata: { limit_usd: 0.5, window: '1h', behavior: 'hard_stop' } });
    assert.deepEqual(
      result.limits.map((spec) => [spec.id, spec.metric, spec.limit, spec.windowMs, spec.behavior]),
      [['agent:a/usd/1h', 'usd_micros', 500_000, 3_600_000, 'hard_stop']],
    );
    // a USD limit in force: an unknown price is estimated (at the provider's highest rates: fallbackRates null)
    assert.equal(result.unknownCost, 'estimate');
    assert.equal(result.fallbackRates, null);
  });

  it('estimates unknown prices by default under any USD limit (own, scoped or shared), counts them $0 without one', () => {
    assert.equal(policy({ metadata: { max_requests: 5, window: '1h' } }).unknownCost, 'count_zero');
    assert.equal(policy({ metadata: { limits: [{ limit_usd: 1, window: '1h', models: ['openai/*'] }] } }).unknownCost, 'estimate');
    assert.equal(policy({ governance: { shared: ['t'] }, shared: { t: { limit_usd: 1, window: '1h' } } }).unknownCost, 'estimate');
    assert.equal(
      policy({ metadata: { limit_usd: 1, window: '1h' }, governance: { unknown_cost: 'count_zero' } }).unknownCost,
      'count_zero',
      'count_zero stays available explicitly',
    );
    assert.equal(policy({ governance: { unknown_cost: 'estimate' } }).fallbackRates, null, 'estimate without fallback_rates is valid: the provider ceiling');
  });

  it('defaults behaviour to hard_stop and merges field by field, later sources winning, with provenance', () => {
    const result = policy({
      metadata: { limit_usd: 0.5, max_requests: 10, window: '1h', behavior: 'soft_alert' },
      override: { max_requests: 20, behavior: null },
      governance: { limit_usd: 1, window: ' ' },
    });
    assert.deepEqual(
      result.limits.map((spec) => [spec.metric, spec.limit, spec.window, spec.behavior]),
      [
        ['usd_micros', 1_000_000, '1h', 'soft_alert'],
        ['requests', 20, '1h', 'soft_alert'],
      ],
    );
    assert.equal(result.sources.limit_usd?.file, GOV);
    assert.equal(result.sources.max_requests?.file, CTX);
    assert.equal(result.sources.window?.file, META);
    assert.equal(result.sources.behavior?.kind, 'metadata');
    assert.equal(result.limits[0].source.kind, 'governance');
  });

  it('lets an override alone set a budget (no metadata budget)', () => {
    const result = policy({ override: { max_requests: 1, window: '1h' } });
    assert.deepEqual(
      result.limits.map((spec) => [spec.id, spec.behavior]),
      [['agent:a/requests/1h', 'hard_stop']],
    );
  });

  it('cannot remove a limit by omitting it or by null', () => {
    const result = policy({ metadata: { limit_usd: 2, window: '1h' }, governance: { limit_usd: null, max_requests: 5 } });
    assert.deepEqual(
      result.limits.map((spec) => spec.metric),
      ['usd_micros', 'requests'],
    );
    assert.equal(result.limits[0].limit, 2_000_000);
  });

  it('replaces limits and shared arrays whole', () => {
    const result = policy({
      metadata: {
        limits: [
          { limit_usd: 5, window: '1h' },
          { limit_usd: 50, window: '1d' },
        ],
        shared: ['team-a'],
      },
      governance: { limits: [{ max_requests: 3, window: '10m' }], shared: ['team-b'] },
      shared: { 'team-a': { limit_usd: 1, window: '1h' }, 'team-b': { max_requests: 100, window: '1d' } },
    });
    assert.deepEqual(
      result.limits.map((spec) => spec.id),
      ['agent:a/requests/10m', 'shared:team-b/requests/1d'],
    );
    assert.deepEqual(result.shared, ['team-b']);
  });

  it('accepts behaviour names in any case', () => {
    const result = policy({ metadata: { limit_usd: 1, window: '1h', behavior: 'Hard_Stop' } });
    assert.equal(result.limits[0].behavior, 'hard_stop');
  });

  it('applies no enforcement when no limit is set, whatever window and behaviour say (as cllama)', () => {
    const result = policy({ metadata: { window: '7 days', behavior: 'Bogus' } });
    assert.deepEqual(result.limits, []);
  });

  it('lets a later valid value repair an earlier invalid one', () => {
    const result = policy({ metadata: { limit_usd: 0, window: '1h' }, governance: { limit_usd: 1 } });
    assert.equal(result.limits[0].limit, 1_000_000);
  });

  it('builds several limits, token limits, concurrency and per-limit behaviour', () => {
    const result = policy({
      metadata: {
        limit_usd: 5,
        max_total_tokens: 100_000,
        window: '1h',
        behavior: 'rate_limit',
        max_concurrent: 4,
        limits: [
          { limit_usd: 50, window: '1d', behavior: 'hard_stop' },
          { max_input_tokens: 1000, max_output_tokens: 500, window: '1m' },
        ],
        alerts: [0.8, 0.5, 1],
      },
    });
    assert.deepEqual(
      result.limits.map((spec) => [spec.id, spec.limit, spec.behavior, spec.field]),
      [
        ['agent:a/usd/1h', 5_000_000, 'rate_limit', 'limit_usd'],
        ['agent:a/total_tokens/1h', 100_000, 'rate_limit', 'max_total_tokens'],
        ['agent:a/usd/1d', 50_000_000, 'hard_stop', 'limits[0].limit_usd'],
        ['agent:a/input_tokens/1m', 1000, 'rate_limit', 'limits[1].max_input_tokens'],
        ['agent:a/output_tokens/1m', 500, 'rate_limit', 'limits[1].max_output_tokens'],
        ['agent:a/concurrency', 4, 'rate_limit', 'max_concurrent'],
      ],
    );
    assert.deepEqual(result.limits[0].alerts, [0.5, 0.8, 1]);
    assert.deepEqual(result.limits[1].alerts, []);
  });

  it('scopes limits with models globs to their own scope', () => {
    const result = policy({ metadata: { limits: [{ limit_usd: 1, window: '1h', models: ['openai/*', 'anthropic/claude-*'] }] } });
    const [spec] = result.limits;
    assert.equal(spec.scope, 'agent:a|model:openai/*,anthropic/claude-*');
    assert.equal(spec.id, 'agent:a|model:openai/*,anthropic/claude-*/usd/1h');
    assert.ok(spec.modelPattern!.test('openai/gpt-4o'));
    assert.ok(spec.modelPattern!.test('Anthropic/claude-3-5-haiku'));
    assert.ok(!spec.modelPattern!.test('anthropic/other'));
    assert.ok(!spec.modelPattern!.test('xopenai/gpt'));
  });

  it('adds the limits of each shared budget under its own scope', () => {
    const result = policy({
      metadata: { limit_usd: 1, window: '1h', shared: ['team-a'] },
      shared: { 'team-a': { limit_usd: 10, window: '1d', max_concurrent: 8, alerts: [0.9] } },
    });
    assert.deepEqual(
      result.limits.map((spec) => [spec.id, spec.source.file]),
      [
        ['agent:a/usd/1h', META],
        ['shared:team-a/usd/1d', '/gov/_shared/team-a.json'],
        ['shared:team-a/concurrency', '/gov/_shared/team-a.json'],
      ],
    );
    assert.deepEqual(result.limits[1].alerts, [0.9]);
  });

  it('gives duplicate limit ids a suffix', () => {
    const result = policy({
      metadata: {
        limits: [
          { limit_usd: 1, window: '1h' },
          { limit_usd: 2, window: '1h' },
        ],
      },
    });
    assert.deepEqual(
      result.limits.map((spec) => spec.id),
      ['agent:a/usd/1h', 'agent:a/usd/1h#2'],
    );
  });
});

describe('expiry', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  it('skips an override whose expires_at has passed and remembers it', () => {
    const result = policy({
      now,
      metadata: { limit_usd: 1, window: '1h' },
      governance: { limit_usd: 100, expires_at: '2026-01-01T11:59:59Z', reason: 'demo', set_by: 'ops' },
    });
    assert.equal(result.limits[0].limit, 1_000_000);
    assert.deepEqual(
      result.expired.map((source) => source.file),
      [GOV],
    );
    assert.equal(result.validUntil, null);
  });

  it('applies an override until it expires and says when to recompute', () => {
    const result = policy({
      now,
      metadata: { limit_usd: 1, window: '1h' },
      governance: { limit_usd: 100, expires_at: '2026-01-01T13:00:00Z', reason: 'launch day' },
    });
    assert.equal(result.limits[0].limit, 100_000_000);
    assert.equal(result.validUntil, Date.parse('2026-01-01T13:00:00Z'));
    assert.equal(result.fields.reason, 'launch day');
  });

  it('treats expiry at exactly now as expired', () => {
    const result = policy({ now, metadata: { limit_usd: 1, window: '1h' }, override: { limit_usd: 9, expires_at: '2026-01-01T12:00:00Z' } });
    assert.equal(result.limits[0].limit, 1_000_000);
  });
});
