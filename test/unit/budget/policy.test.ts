// Policy sources: merge order and provenance, validation messages naming file and field, expiry, shared and model-scoped limits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicySource, resolvePolicy, sourceProblems, type EffectivePolicy, type ParsedSource, type PolicyResult } from '../../../src/budget/policy/policy.ts';

const META = '/ctx/a/metadata.json';
const CTX = '/ctx/a/budget-override.json';
const GOV = '/gov/a/budget.json';

function sources(input: { metadata?: unknown; override?: unknown; governance?: unknown }): ParsedSource[] {
  return [
    parsePolicySource({ raw: input.metadata, source: { kind: 'metadata', file: META }, prefix: 'budget.' }),
    parsePolicySource({ raw: input.override, source: { kind: 'context_override', file: CTX } }),
    parsePolicySource({ raw: input.governance, source: { kind: 'governance', file: GOV } }),
  ];
}

function resolve(input: { metadata?: unknown; override?: unknown; governance?: unknown; shared?: Record<string, unknown>; now?: number }): PolicyResult {
  const shared = input.shared ?? {};
  return resolvePolicy({
    agentId: 'a',
    sources: sources(input),
    shared: (name) => (name in shared ? { parsed: parsePolicySource({ raw: shared[name], source: { kind: 'shared', file: `/gov/_shared/${name}.json` } }) } : null),
    sharedDir: '/gov/_shared',
    now: input.now ?? Date.parse('2026-01-01T00:00:00Z'),
  });
}

function policy(input: Parameters<typeof resolve>[0]): EffectivePolicy {
  const result = resolve(input);
  assert.equal(result.kind, 'policy', result.kind === 'unavailable' ? result.problems.join('\n') : '');
  return result as EffectivePolicy;
}

function problems(input: Parameters<typeof resolve>[0]): readonly string[] {
  const result = resolve(input);
  assert.equal(result.kind, 'unavailable', 'expected the policy to be unavailable');
  return (result as Extract<PolicyResult, { kind: 'unavailable' }>).problems;
}

describe('merge', () => {
  it('keeps a plain cllama policy unchanged', () => {
    const result = policy({ metadata: { limit_usd: 0.5, window: '1h', behavior: 'hard_stop' } });
    assert.deepEqual(result.limits.map((spec) => [spec.id, spec.metric, spec.limit, spec.windowMs, spec.behavior]), [['agent:a/usd/1h', 'usd_micros', 500_000, 3_600_000, 'hard_stop']]);
    // a USD limit in force: an unknown price is estimated (at the provider's highest rates: fallbackRates null)
    assert.equal(result.unknownCost, 'estimate');
    assert.equal(result.fallbackRates, null);
  });

  it('estimates unknown prices by default under any USD limit (own, scoped or shared), counts them $0 without one', () => {
    assert.equal(policy({ metadata: { max_requests: 5, window: '1h' } }).unknownCost, 'count_zero');
    assert.equal(policy({ metadata: { limits: [{ limit_usd: 1, window: '1h', models: ['openai/*'] }] } }).unknownCost, 'estimate');
    assert.equal(policy({ governance: { shared: ['t'] }, shared: { t: { limit_usd: 1, window: '1h' } } }).unknownCost, 'estimate');
    assert.equal(policy({ metadata: { limit_usd: 1, window: '1h' }, governance: { unknown_cost: 'count_zero' } }).unknownCost, 'count_zero', 'count_zero stays available explicitly');
    assert.equal(policy({ governance: { unknown_cost: 'estimate' } }).fallbackRates, null, 'estimate without fallback_rates is valid: the provider ceiling');
  });

  it('defaults behaviour to hard_stop and merges field by field, later sources winning, with provenance', () => {
    const result = policy({
      metadata: { limit_usd: 0.5, max_requests: 10, window: '1h', behavior: 'soft_alert' },
      override: { max_requests: 20, behavior: null },
      governance: { limit_usd: 1, window: ' ' },
    });
    assert.deepEqual(result.limits.map((spec) => [spec.metric, spec.limit, spec.window, spec.behavior]), [
      ['usd_micros', 1_000_000, '1h', 'soft_alert'],
      ['requests', 20, '1h', 'soft_alert'],
    ]);
    assert.equal(result.sources.limit_usd?.file, GOV);
    assert.equal(result.sources.max_requests?.file, CTX);
    assert.equal(result.sources.window?.file, META);
    assert.equal(result.sources.behavior?.kind, 'metadata');
    assert.equal(result.limits[0].source.kind, 'governance');
  });

  it('lets an override alone set a budget (no metadata budget)', () => {
    const result = policy({ override: { max_requests: 1, window: '1h' } });
    assert.deepEqual(result.limits.map((spec) => [spec.id, spec.behavior]), [['agent:a/requests/1h', 'hard_stop']]);
  });

  it('cannot remove a limit by omitting it or by null', () => {
    const result = policy({ metadata: { limit_usd: 2, window: '1h' }, governance: { limit_usd: null, max_requests: 5 } });
    assert.deepEqual(result.limits.map((spec) => spec.metric), ['usd_micros', 'requests']);
    assert.equal(result.limits[0].limit, 2_000_000);
  });

  it('replaces limits and shared arrays whole', () => {
    const result = policy({
      metadata: { limits: [{ limit_usd: 5, window: '1h' }, { limit_usd: 50, window: '1d' }], shared: ['team-a'] },
      governance: { limits: [{ max_requests: 3, window: '10m' }], shared: ['team-b'] },
      shared: { 'team-a': { limit_usd: 1, window: '1h' }, 'team-b': { max_requests: 100, window: '1d' } },
    });
    assert.deepEqual(result.limits.map((spec) => spec.id), ['agent:a/requests/10m', 'shared:team-b/requests/1d']);
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
        limits: [{ limit_usd: 50, window: '1d', behavior: 'hard_stop' }, { max_input_tokens: 1000, max_output_tokens: 500, window: '1m' }],
        alerts: [0.8, 0.5, 1],
      },
    });
    assert.deepEqual(result.limits.map((spec) => [spec.id, spec.limit, spec.behavior, spec.field]), [
      ['agent:a/usd/1h', 5_000_000, 'rate_limit', 'limit_usd'],
      ['agent:a/total_tokens/1h', 100_000, 'rate_limit', 'max_total_tokens'],
      ['agent:a/usd/1d', 50_000_000, 'hard_stop', 'limits[0].limit_usd'],
      ['agent:a/input_tokens/1m', 1000, 'rate_limit', 'limits[1].max_input_tokens'],
      ['agent:a/output_tokens/1m', 500, 'rate_limit', 'limits[1].max_output_tokens'],
      ['agent:a/concurrency', 4, 'rate_limit', 'max_concurrent'],
    ]);
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
    assert.deepEqual(result.limits.map((spec) => [spec.id, spec.source.file]), [
      ['agent:a/usd/1h', META],
      ['shared:team-a/usd/1d', '/gov/_shared/team-a.json'],
      ['shared:team-a/concurrency', '/gov/_shared/team-a.json'],
    ]);
    assert.deepEqual(result.limits[1].alerts, [0.9]);
  });

  it('gives duplicate limit ids a suffix', () => {
    const result = policy({ metadata: { limits: [{ limit_usd: 1, window: '1h' }, { limit_usd: 2, window: '1h' }] } });
    assert.deepEqual(result.limits.map((spec) => spec.id), ['agent:a/usd/1h', 'agent:a/usd/1h#2']);
  });
});

describe('expiry', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  it('skips an override whose expires_at has passed and remembers it', () => {
    const result = policy({ now, metadata: { limit_usd: 1, window: '1h' }, governance: { limit_usd: 100, expires_at: '2026-01-01T11:59:59Z', reason: 'demo', set_by: 'ops' } });
    assert.equal(result.limits[0].limit, 1_000_000);
    assert.deepEqual(result.expired.map((source) => source.file), [GOV]);
    assert.equal(result.validUntil, null);
  });

  it('applies an override until it expires and says when to recompute', () => {
    const result = policy({ now, metadata: { limit_usd: 1, window: '1h' }, governance: { limit_usd: 100, expires_at: '2026-01-01T13:00:00Z', reason: 'launch day' } });
    assert.equal(result.limits[0].limit, 100_000_000);
    assert.equal(result.validUntil, Date.parse('2026-01-01T13:00:00Z'));
    assert.equal(result.fields.reason, 'launch day');
  });

  it('treats expiry at exactly now as expired', () => {
    const result = policy({ now, metadata: { limit_usd: 1, window: '1h' }, override: { limit_usd: 9, expires_at: '2026-01-01T12:00:00Z' } });
    assert.equal(result.limits[0].limit, 1_000_000);
  });
});

describe('validation', () => {
  const cases: { name: string; input: Parameters<typeof resolve>[0]; expected: string }[] = [
    { name: 'limit_usd 0', input: { metadata: { limit_usd: 0, window: '1h' } }, expected: `${META}: budget.limit_usd: must be > 0` },
    { name: 'negative limit_usd', input: { governance: { limit_usd: -1, window: '1h' } }, expected: `${GOV}: limit_usd: must be > 0` },
    { name: 'limit_usd as a string', input: { metadata: { limit_usd: '1', window: '1h' } }, expected: `${META}: budget.limit_usd: must be a number of US dollars, got the string "1"` },
    { name: 'fractional max_requests', input: { metadata: { max_requests: 1.5, window: '1h' } }, expected: `${META}: budget.max_requests: must be a whole number` },
    { name: 'zero max_requests', input: { override: { max_requests: 0, window: '1h' } }, expected: `${CTX}: max_requests: must be > 0` },
    { name: 'max_concurrent as a string', input: { governance: { max_concurrent: 'two' } }, expected: `${GOV}: max_concurrent: must be a whole number, got the string "two"` },
    { name: 'missing window', input: { metadata: { limit_usd: 1 } }, expected: `${META}: budget.window: is required when budget.limit_usd is set` },
    { name: 'bad window', input: { metadata: { limit_usd: 1, window: '7 days' } }, expected: `${META}: budget.window: must be a positive duration like 1h or 7d` },
    { name: 'window of a wrong type', input: { metadata: { limit_usd: 1, window: 3600 } }, expected: `${META}: budget.window: must be a string, got number 3600` },
    { name: 'unknown behaviour', input: { governance: { limit_usd: 1, window: '1h', behavior: 'stop' } }, expected: `${GOV}: behavior: must be one of hard_stop, rate_limit, soft_alert, got "stop"` },
    { name: 'limits not an array', input: { metadata: { limits: { limit_usd: 1 } } }, expected: `${META}: budget.limits: must be an array of limits, got an object` },
    { name: 'limit without window', input: { governance: { limits: [{ limit_usd: 1, window: '1h' }, { limit_usd: 2 }] } }, expected: `${GOV}: limits[1].window: must be a positive duration like 1h or 7d (required in every limit)` },
    { name: 'limit with bad window', input: { governance: { limits: [{ limit_usd: 1, window: '1h' }, { limit_usd: 2, window: '1y' }] } }, expected: `${GOV}: limits[1].window: must be a positive duration like 1h or 7d` },
    { name: 'window longer than the ledger keeps usage', input: { metadata: { limit_usd: 1, window: '36d' } }, expected: `${META}: budget.window: must be at most 35d: the ledger keeps 35 days of usage, a longer window would be cut short` },
    { name: 'limit window longer than the ledger keeps usage', input: { governance: { limits: [{ limit_usd: 1, window: '840h1m' }] } }, expected: `${GOV}: limits[0].window: must be at most 35d: the ledger keeps 35 days of usage, a longer window would be cut short` },
    { name: 'limit without amounts', input: { governance: { limits: [{ window: '1h' }] } }, expected: `${GOV}: limits[0]: must set at least one of limit_usd, max_requests, max_input_tokens, max_output_tokens, max_total_tokens` },
    { name: 'limit with unknown field', input: { governance: { limits: [{ limit_usd: 1, window: '1h', limit: 3 }] } }, expected: `${GOV}: limits[0].limit: unknown field in a limit (allowed: limit_usd, max_requests, max_input_tokens, max_output_tokens, max_total_tokens, window, behavior, models)` },
    { name: 'limit with bad models', input: { governance: { limits: [{ limit_usd: 1, window: '1h', models: 'openai/*' }] } }, expected: `${GOV}: limits[0].models: must be a non-empty array of provider/model patterns like "openai/*"` },
    { name: 'limit with bad behaviour', input: { governance: { limits: [{ limit_usd: 1, window: '1h', behavior: 'x' }] } }, expected: `${GOV}: limits[0].behavior: must be one of hard_stop, rate_limit, soft_alert, got "x"` },
    { name: 'shared name not plain', input: { governance: { shared: ['../x'] } }, expected: `${GOV}: shared[0]: must be a plain name (letters, digits, . _ -)` },
    { name: 'shared budget missing', input: { governance: { shared: ['nope'] } }, expected: `${GOV}: shared[0]: no shared budget named "nope" (expected /gov/_shared/nope.json)` },
    { name: 'shared budget invalid', input: { governance: { shared: ['t'] }, shared: { t: { limit_usd: 1 } } }, expected: '/gov/_shared/t.json: window: is required when limit_usd is set' },
    { name: 'unknown_cost unknown', input: { governance: { unknown_cost: 'free' } }, expected: `${GOV}: unknown_cost: must be one of count_zero, block, estimate, got "free"` },
    { name: 'fallback rates incomplete', input: { governance: { fallback_rates: { input_per_mtok: 1 } } }, expected: `${GOV}: fallback_rates.output_per_mtok: must be a number >= 0 (USD per million tokens)` },
    { name: 'alerts out of range', input: { governance: { alerts: [0.5, 0] } }, expected: `${GOV}: alerts[1]: must be a fraction of the USD limit greater than 0 (1 = 100%)` },
    { name: 'downgrade_to without provider', input: { governance: { downgrade_to: 'gpt-4o-mini' } }, expected: `${GOV}: downgrade_to: must be a provider-prefixed model like "openai/gpt-4o-mini", got "gpt-4o-mini"` },
    { name: 'downgrade_at not positive', input: { governance: { downgrade_at: -0.5 } }, expected: `${GOV}: downgrade_at: must be a fraction of the USD limit greater than 0, like 0.8` },
    { name: 'cap_output_tokens not a boolean', input: { governance: { cap_output_tokens: 'no' } }, expected: `${GOV}: cap_output_tokens: must be true or false, got the string "no"` },
    { name: 'expires_at not a time', input: { governance: { limit_usd: 1, window: '1h', expires_at: 'tomorrow' } }, expected: `${GOV}: expires_at: must be an ISO-8601 time like 2026-01-31T18:00:00Z, got "tomorrow"` },
    { name: 'budget not an object', input: { metadata: 'lots' }, expected: `${META}: budget: must be a JSON object, got the string "lots"` },
    { name: 'override not an object', input: { override: [1] }, expected: `${CTX}: must be a JSON object, got an array` },
  ];
  for (const { name, input, expected } of cases) {
    it(`reports ${name}`, () => assert.deepEqual(problems(input), [expected]));
  }

  it('reports a window problem against the file the window came from', () => {
    assert.deepEqual(problems({ metadata: { limit_usd: 1, window: 'x' }, governance: { limit_usd: 2 } }), [`${META}: budget.window: must be a positive duration like 1h or 7d`]);
  });

  it('makes the check unavailable instead of locking out on a wrong type', () => {
    const result = resolve({ metadata: { limit_usd: '1', window: '1h' } });
    assert.equal(result.kind, 'unavailable');
    assert.match((result as { reason: string }).reason, /budget\.limit_usd/);
  });

  it('warns about unknown fields and ignores them', () => {
    const parsed = parsePolicySource({ raw: { limit_usd: 1, window: '1h', max_request: 3 }, source: { kind: 'governance', file: GOV } });
    assert.deepEqual(parsed.warnings, ['max_request: unknown field, ignored']);
    assert.deepEqual(sourceProblems(parsed), []);
  });

  it('warns about agent-only fields in a shared budget file', () => {
    const parsed = parsePolicySource({ raw: { limit_usd: 1, window: '1h', downgrade_to: 'openai/x' }, source: { kind: 'shared', file: '/gov/_shared/t.json' } });
    assert.deepEqual(parsed.warnings, ['downgrade_to: does not apply to a shared budget, ignored']);
  });
});
