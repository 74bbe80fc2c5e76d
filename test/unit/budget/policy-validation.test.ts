// Policy validation: each problem named by file and field, an unusable policy made unavailable, unknown fields warned about.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicySource, sourceProblems } from '../../../src/budget/policy/policy.ts';
import { CTX, GOV, META, problems, resolve } from './policy-setup.ts';

describe('validation', () => {
  const cases: { name: string; input: Parameters<typeof resolve>[0]; expected: string }[] = [
    { name: 'limit_usd 0', input: { metadata: { limit_usd: 0, window: '1h' } }, expected: `${META}: budget.limit_usd: must be > 0` },
    { name: 'negative limit_usd', input: { governance: { limit_usd: -1, window: '1h' } }, expected: `${GOV}: limit_usd: must be > 0` },
    {
      name: 'limit_usd as a string',
      input: { metadata: { limit_usd: '1', window: '1h' } },
      expected: `${META}: budget.limit_usd: must be a number of US dollars, got the string "1"`,
    },
    {
      name: 'fractional max_requests',
      input: { metadata: { max_requests: 1.5, window: '1h' } },
      expected: `${META}: budget.max_requests: must be a whole number`,
    },
    { name: 'zero max_requests', input: { override: { max_requests: 0, window: '1h' } }, expected: `${CTX}: max_requests: must be > 0` },
    {
      name: 'max_concurrent as a string',
      input: { governance: { max_concurrent: 'two' } },
      expected: `${GOV}: max_concurrent: must be a whole number, got the string "two"`,
    },
    { name: 'missing window', input: { metadata: { limit_usd: 1 } }, expected: `${META}: budget.window: is required when budget.limit_usd is set` },
    {
      name: 'bad window',
      input: { metadata: { limit_usd: 1, window: '7 days' } },
      expected: `${META}: budget.window: must be a positive duration like 1h or 7d`,
    },
    {
      name: 'window of a wrong type',
      input: { metadata: { limit_usd: 1, window: 3600 } },
      expected: `${META}: budget.window: must be a string, got number 3600`,
    },
    {
      name: 'unknown behaviour',
      input: { governance: { limit_usd: 1, window: '1h', behavior: 'stop' } },
      expected: `${GOV}: behavior: must be one of hard_stop, rate_limit, soft_alert, got "stop"`,
    },
    {
      name: 'limits not an array',
      input: { metadata: { limits: { limit_usd: 1 } } },
      expected: `${META}: budget.limits: must be an array of limits, got an object`,
    },
    {
      name: 'limit without window',
      input: { governance: { limits: [{ limit_usd: 1, window: '1h' }, { limit_usd: 2 }] } },
      expected: `${GOV}: limits[1].window: must be a positive duration like 1h or 7d (required in every limit)`,
    },
    {
      name: 'limit with bad window',
      input: {
        governance: {
          limits: [
            { limit_usd: 1, window: '1h' },
            { limit_usd: 2, window: '1y' },
          ],
        },
      },
      expected: `${GOV}: limits[1].window: must be a positive duration like 1h or 7d`,
    },
    {
      name: 'window longer than the ledger keeps usage',
      input: { metadata: { limit_usd: 1, window: '36d' } },
      expected: `${META}: budget.window: must be at most 35d: the ledger keeps 35 days of usage, a longer window would be cut short`,
    },
    {
      name: 'limit window longer than the ledger keeps usage',
      input: { governance: { limits: [{ limit_usd: 1, window: '840h1m' }] } },
      expected: `${GOV}: limits[0].window: must be at most 35d: the ledger keeps 35 days of usage, a longer window would be cut short`,
    },
    {
      name: 'limit without amounts',
      input: { governance: { limits: [{ window: '1h' }] } },
      expected: `${GOV}: limits[0]: must set at least one of limit_usd, max_requests, max_input_tokens, max_output_tokens, max_total_tokens`,
    },
    {
      name: 'limit with unknown field',
      input: { governance: { limits: [{ limit_usd: 1, window: '1h', limit: 3 }] } },
      expected: `${GOV}: limits[0].limit: unknown field in a limit (allowed: limit_usd, max_requests, max_input_tokens, max_output_tokens, max_total_tokens, window, behavior, models)`,
    },
    {
      name: 'limit with bad models',
      input: { governance: { limits: [{ limit_usd: 1, window: '1h', models: 'openai/*' }] } },
      expected: `${GOV}: limits[0].models: must be a non-empty array of provider/model patterns like "openai/*"`,
    },
    {
      name: 'limit with bad behaviour',
      input: { governance: { limits: [{ limit_usd: 1, window: '1h', behavior: 'x' }] } },
      expected: `${GOV}: limits[0].behavior: must be one of hard_stop, rate_limit, soft_alert, got "x"`,
    },
    {
      name: 'shared name not plain',
      input: { governance: { shared: ['../x'] } },
      expected: `${GOV}: shared[0]: must be a plain name (letters, digits, . _ -)`,
    },
    {
      name: 'shared budget missing',
      input: { governance: { shared: ['nope'] } },
      expected: `${GOV}: shared[0]: no shared budget named "nope" (expected /gov/_shared/nope.json)`,
    },
    {
      name: 'shared budget invalid',
      input: { governance: { shared: ['t'] }, shared: { t: { limit_usd: 1 } } },
      expected: '/gov/_shared/t.json: window: is required when limit_usd is set',
    },
    {
      name: 'unknown_cost unknown',
      input: { governance: { unknown_cost: 'free' } },
      expected: `${GOV}: unknown_cost: must be one of count_zero, block, estimate, got "free"`,
    },
    {
      name: 'fallback rates incomplete',
      input: { governance: { fallback_rates: { input_per_mtok: 1 } } },
      expected: `${GOV}: fallback_rates.output_per_mtok: must be a number >= 0 (USD per million tokens)`,
    },
    {
      name: 'alerts out of range',
      input: { governance: { alerts: [0.5, 0] } },
      expected: `${GOV}: alerts[1]: must be a fraction of the USD limit greater than 0 (1 = 100%)`,
    },
    {
      name: 'downgrade_to without provider',
      input: { governance: { downgrade_to: 'gpt-4o-mini' } },
      expected: `${GOV}: downgrade_to: must be a provider-prefixed model like "openai/gpt-4o-mini", got "gpt-4o-mini"`,
    },
    {
      name: 'downgrade_at not positive',
      input: { governance: { downgrade_at: -0.5 } },
      expected: `${GOV}: downgrade_at: must be a fraction of the USD limit greater than 0, like 0.8`,
    },
    {
      name: 'cap_output_tokens not a boolean',
      input: { governance: { cap_output_tokens: 'no' } },
      expected: `${GOV}: cap_output_tokens: must be true or false, got the string "no"`,
    },
    {
      name: 'expires_at not a time',
      input: { governance: { limit_usd: 1, window: '1h', expires_at: 'tomorrow' } },
      expected: `${GOV}: expires_at: must be an ISO-8601 time like 2026-01-31T18:00:00Z, got "tomorrow"`,
    },
    { name: 'budget not an object', input: { metadata: 'lots' }, expected: `${META}: budget: must be a JSON object, got the string "lots"` },
    { name: 'override not an object', input: { override: [1] }, expected: `${CTX}: must be a JSON object, got an array` },
  ];
  for (const { name, input, expected } of cases) {
    it(`reports ${name}`, () => assert.deepEqual(problems(input), [expected]));
  }

  it('reports a window problem against the file the window came from', () => {
    assert.deepEqual(problems({ metadata: { limit_usd: 1, window: 'x' }, governance: { limit_usd: 2 } }), [
      `${META}: budget.window: must be a positive duration like 1h or 7d`,
    ]);
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
    const parsed = parsePolicySource({
      raw: { limit_usd: 1, window: '1h', downgrade_to: 'openai/x' },
      source: { kind: 'shared', file: '/gov/_shared/t.json' },
    });
    assert.deepEqual(parsed.warnings, ['downgrade_to: does not apply to a shared budget, ignored']);
  });
});
