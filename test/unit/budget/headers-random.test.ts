// Standing headers on random standings: the tightest limit of each kind, exactly as picking kind by kind does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { standingHeaders } from '../../../src/budget/headers.ts';
import { formatResetDuration } from '../../../src/budget/duration.ts';
import type { LimitStanding } from '../../../src/ledger/ledger.ts';
import { microsToUsdText } from '../../../src/pricing/money.ts';
import { seededRandom } from '../../helpers/random.ts';

const METRICS = ['requests', 'input_tokens', 'output_tokens', 'total_tokens', 'usd_micros', 'unknown_cost_requests', 'concurrency'] as const;

/** The headers as a filter per kind and the first tightest of each would give them (the reference). */
function reference(standings: readonly LimitStanding[]): Record<string, string> {
  const tightest = (list: readonly LimitStanding[]) =>
    list.reduce<LimitStanding | null>(
      (best, s) => (!best || s.remaining < best.remaining || (s.remaining === best.remaining && (s.resetMs ?? 0) < (best.resetMs ?? 0)) ? s : best),
      null,
    );
  const out: Record<string, string> = {};
  const kinds: [string, (s: LimitStanding) => boolean, (n: number) => string, string][] = [
    ['requests', (s) => s.metric === 'requests', String, 'x-ratelimit-%-requests'],
    ['tokens', (s) => ['input_tokens', 'output_tokens', 'total_tokens'].includes(s.metric), String, 'x-ratelimit-%-tokens'],
    ['usd', (s) => s.metric === 'usd_micros', microsToUsdText, 'x-tollgate-budget-%-usd'],
  ];
  for (const [, of, format, name] of kinds) {
    const best = tightest(standings.filter(of));
    if (!best) continue;
    out[name.replace('%', 'limit')] = format(best.limit);
    out[name.replace('%', 'remaining')] = format(best.remaining);
    out[name.replace('%', 'reset')] = formatResetDuration(best.resetMs ?? 0);
  }
  return out;
}

test('the tightest of each kind, ties to the one that resets first, then to the first given', () => {
  const random = seededRandom(3);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)];
  for (let i = 0; i < 3000; i++) {
    const standings: LimitStanding[] = Array.from({ length: Math.floor(random() * 7) }, (_, n) => ({
      id: `l${n}`,
      scope: 'agent:a',
      metric: pick(METRICS),
      windowMs: 3_600_000,
      limit: pick([0, 10, 1_000_000]),
      used: 0,
      reserved: 0,
      remaining: pick([0, 5, 5, 999_999]),
      resetMs: pick([null, 0, 1, 999, 1000, 1500, 61_250, 3_600_000]),
    }));
    const headers = standingHeaders(standings);
    assert.deepEqual(headers, reference(standings));
    assert.deepEqual(Object.keys(headers), Object.keys(reference(standings)), 'in the same order');
  }
});
