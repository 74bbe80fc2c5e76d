// Random policy files (the field vocabulary with values of every type): each resolves to limits the ledgers accept, or
// is unavailable with problems naming file and field; nothing throws.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicySource, resolvePolicy, type PolicyResult } from '../../../src/budget/policy/policy.ts';
import { planRequest } from '../../../src/budget/plan.ts';
import { LEDGER_RETENTION_MS } from '../../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { reservePayload, standingPayload } from '../../../src/ledger/redis/codec.ts';
import { seededRandom } from '../../helpers/random.ts';

const FIELDS = [
  'limit_usd',
  'max_requests',
  'max_input_tokens',
  'max_output_tokens',
  'max_total_tokens',
  'max_concurrent',
  'window',
  'behavior',
  'limits',
  'shared',
  'unknown_cost',
  'fallback_rates',
  'alerts',
  'downgrade_to',
  'downgrade_at',
  'reason',
  'set_by',
  'expires_at',
  'bogus',
];
const FILES = { metadata: '/ctx/a/metadata.json', override: '/ctx/a/budget-override.json', governance: '/gov/a/budget.json' };
const NOW = Date.parse('2026-06-01T00:00:00Z');

/** A value for a field: usually one the docs allow, sometimes one they refuse, rarely junk of any type. */
function valueFor(random: () => number, field: string, clean: boolean, depth = 0): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const roll = clean ? 1 : random();
  if (roll < 0.1) return pick([null, true, false, '', ' ', 'x', [], {}, -1, 0, 0.5, 1.5, 1e-9, 1e21, 2 ** 53, -0]);
  const valid = roll > 0.6;
  switch (field) {
    case 'limit_usd':
      return valid ? pick([0.000001, 0.01, 1, 5, 1e6, 1e15, 1e300]) : pick([0.0000004, -5, '5']);
    case 'downgrade_at':
      return valid ? pick([0.5, 0.9, 1]) : pick([0, -1, '0.8']);
    case 'max_requests':
    case 'max_input_tokens':
    case 'max_output_tokens':
    case 'max_total_tokens':
    case 'max_concurrent':
      return valid ? pick([1, 2, 100, 1e9, Number.MAX_SAFE_INTEGER]) : pick([2 ** 53, 1.5, -3, '10']);
    case 'window':
      return valid ? pick(['1s', '30s', '15m', '1h', '24h', '7d', '35d', '1H', ' 2h ']) : pick(['36d', '0s', '-1h', '1.5h', '999999d', 'forever', 3600]);
    case 'behavior':
      return valid ? pick(['hard_stop', 'rate_limit', 'soft_alert', 'HARD_STOP']) : pick(['block', 1]);
    case 'limits':
      if (depth > 0 || !valid) return pick([[], 'x', [{}], [{ window: '1h' }]]);
      return Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
        const entry: Record<string, unknown> = {
          window: valueFor(random, 'window', clean, depth + 1),
          [pick(['limit_usd', 'max_requests', 'max_output_tokens'])]: 1 + Math.floor(random() * 100),
        };
        for (const key of ['limit_usd', 'max_requests', 'max_output_tokens', 'behavior', 'models']) {
          if (random() < 0.3)
            entry[key] =
              key === 'models' ? pick([['openai/*'], ['anthropic/claude-*', 'openai/gpt-4o'], ['(a|b)+$'], ['*']]) : valueFor(random, key, clean, depth + 1);
        }
        if (!clean && random() < 0.1) entry.bogus = 1;
        return entry;
      });
    case 'shared':
      return valid ? pick([['team'], ['team', 'team']]) : pick([['missing'], ['..'], ['a/b'], 'team']);
    case 'unknown_cost':
      return valid ? pick(['count_zero', 'block', 'estimate', 'Estimate']) : 'free';
    case 'fallback_rates':
      return valid ? { input_per_mtok: 3, output_per_mtok: 15 } : pick([{ input_per_mtok: -1, output_per_mtok: 1 }, { input_per_mtok: 3 }, [3, 15]]);
    case 'alerts':
      return valid ? pick([[0.5, 0.8, 1], [1, 1], [2]]) : pick([[0], [11], [0.5, 'x'], 0.5]);
    case 'downgrade_to':
      return valid ? 'openai/gpt-4o-mini' : pick(['gpt-4o-mini', '/x', 'openai/']);
    case 'expires_at':
      return valid ? pick(['2026-05-01T00:00:00Z', '2026-07-01T00:00:00Z', '2026-06-01T00:00:00Z']) : 'tomorrow';
    default:
      return pick(['ops', 'because', 42]);
  }
}

function randomSource(random: () => number): Record<string, unknown> | unknown {
  if (random() < 0.02) return pick(random, [[], 'a string', 7]);
  if (random() < 0.2) return undefined;
  // most files an operator writes are valid; a third here hold some mistake
  const clean = random() < 0.67;
  const source: Record<string, unknown> = {};
  for (const field of FIELDS) if (random() < (field === 'bogus' ? 0.05 : 0.15)) source[field] = valueFor(random, field, clean);
  return source;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

function resolve(random: () => number): PolicyResult {
  const team = random() < 0.8 ? parsePolicySource({ raw: randomSource(random), source: { kind: 'shared', file: '/gov/_shared/team.json' } }) : null;
  return resolvePolicy({
    agentId: 'a',
    sources: [
      parsePolicySource({ raw: randomSource(random), source: { kind: 'metadata', file: FILES.metadata }, prefix: 'budget.' }),
      parsePolicySource({ raw: randomSource(random), source: { kind: 'context_override', file: FILES.override } }),
      parsePolicySource({ raw: randomSource(random), source: { kind: 'governance', file: FILES.governance } }),
    ],
    shared: (name) => (name === 'team' && team ? { parsed: team } : null),
    sharedDir: '/gov/_shared',
    now: NOW,
  });
}

describe('random policy files', () => {
  it('2,000 random merges: usable limits the ledgers accept, or problems that name a file', async () => {
    const random = seededRandom(2026);
    const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
    const counts = { policy: 0, limits: 0, unavailable: 0 };
    try {
      for (let round = 0; round < 2_000; round++) {
        const result = resolve(random);
        if (result.kind === 'unavailable') {
          counts.unavailable += 1;
          assert.ok(result.problems.length > 0);
          for (const problem of result.problems) {
            assert.ok(
              Object.values(FILES).some((file) => problem.startsWith(`${file}: `)) || problem.startsWith('/gov/_shared/team.json: '),
              `round ${round}: a problem names its file: ${problem}`,
            );
          }
          continue;
        }
        counts.policy += 1;
        counts.limits += result.limits.length;
        for (const spec of result.limits) {
          const label = `round ${round}: ${spec.id} (${spec.field})`;
          assert.ok(Number.isFinite(spec.limit) && spec.limit >= 1, `${label}: limit ${spec.limit}`);
          if (spec.metric !== 'usd_micros') assert.ok(Number.isSafeInteger(spec.limit), `${label}: a count limit is a whole number`);
          if (spec.metric === 'concurrency') assert.equal(spec.windowMs, 0, label);
          else assert.ok(Number.isSafeInteger(spec.windowMs) && spec.windowMs > 0 && spec.windowMs <= LEDGER_RETENTION_MS, `${label}: window ${spec.windowMs}`);
          assert.ok(
            spec.alerts.every((alert) => alert > 0),
            label,
          );
        }
        assert.equal(new Set(result.limits.map((spec) => spec.id)).size, result.limits.length, `round ${round}: limit ids are unique`);
        // what the engine does with it: a plan per model, checks both ledgers take (a refusal is fine, a throw is a defect)
        for (const model of ['gpt-4o', 'claude-sonnet-4-5']) {
          const plan = planRequest(result, { provider: model.startsWith('gpt') ? 'openai' : 'anthropic', model, requestedModel: model });
          const reservation = {
            id: `r-${round}-${model}`,
            scopes: plan.scopes,
            amounts: { usd_micros: 10, requests: 1, output_tokens: 5 },
            checks: plan.hardChecks,
            leaseMs: 60_000,
          };
          reservePayload(reservation); // what the Redis ledger would send: its codec throws on a check it cannot encode
          standingPayload([...plan.softChecks, ...plan.alertChecks, ...plan.usdChecks]);
          const outcome = await ledger.reserve(reservation);
          if (outcome.admitted) await ledger.release(`r-${round}-${model}`);
          await ledger.standing([...plan.softChecks, ...plan.alertChecks, ...plan.usdChecks]);
        }
      }
    } finally {
      await ledger.close();
    }
    assert.ok(counts.policy > 200 && counts.unavailable > 200 && counts.limits > 200, `both outcomes are exercised: ${JSON.stringify(counts)}`);
  });
});
