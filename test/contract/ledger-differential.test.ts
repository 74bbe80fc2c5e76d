// The embedded and the Redis ledger, fed the same seeded random operations, must decide and report the same (DIFF_SEEDS=1,2,... for more seeds).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bucketLevels, levelIndexFor } from '../../src/ledger/bucket-levels.ts';
import {
  LEDGER_RETENTION_MS,
  type Amounts,
  type Ledger,
  type LimitCheck,
  type LimitStanding,
  type Metric,
  type ReserveOutcome,
} from '../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { seededRandom } from '../helpers/random.ts';
import { makeTestLedger, requireRedis } from '../unit/ledger/redis-test-support.ts';

before(() => requireRedis());

const METRICS: readonly Metric[] = ['usd_micros', 'requests', 'input_tokens', 'output_tokens', 'total_tokens', 'unknown_cost_requests'];
const HOUR = 3_600_000;

/** Windows long enough that nothing leaves them while the test runs: every sum is exact on both sides. */
const WINDOWS = [HOUR, 24 * HOUR, 7 * 24 * HOUR];

interface Open {
  readonly id: string;
  readonly amounts: Amounts;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

/** Amounts near the boundaries that matter: zero, small, and large integers (up to 2^53 - 1). */
function amount(random: () => number): number {
  const roll = random();
  if (roll < 0.1) return 0;
  if (roll < 0.75) return 1 + Math.floor(random() * 1000);
  if (roll < 0.95) return 1 + Math.floor(random() * 10_000_000);
  return Number.MAX_SAFE_INTEGER - Math.floor(random() * 10);
}

function amounts(random: () => number): Amounts {
  const result: Amounts = {};
  for (const metric of METRICS) if (random() < 0.5) result[metric] = amount(random);
  return result;
}

/** What both ledgers must agree on exactly in a standing (reset times: see assertResetsAgree). */
function comparable(standings: readonly LimitStanding[]): unknown[] {
  return standings.map((standing) => ({
    id: standing.id,
    used: standing.used,
    reserved: standing.reserved,
    remaining: standing.remaining,
    hasReset: standing.resetMs !== null,
  }));
}

const LEVELS = bucketLevels({ bucketMs: 1000, retentionMs: LEDGER_RETENTION_MS });
/** Two clocks (Redis TIME, Date.now) and the time between the two calls. */
const CLOCK_SLACK_MS = 250;

/**
 * Fresh usage is exact in the embedded ledger; Redis holds a window's usage in the buckets of the window's level, so
 * its reset may come up to one such bucket later, never earlier (docs/deploy.md).
 */
function assertResetsAgree(input: { memory: readonly LimitStanding[]; redis: readonly LimitStanding[]; label: string }): void {
  input.memory.forEach((exact, index) => {
    const held = input.redis[index];
    if (exact.resetMs === null || held.resetMs === null) return; // hasReset is compared exactly
    const bucketMs = LEVELS[levelIndexFor(LEVELS, exact.windowMs)].bucketMs;
    assert.ok(
      held.resetMs >= exact.resetMs - CLOCK_SLACK_MS && held.resetMs <= exact.resetMs + bucketMs + CLOCK_SLACK_MS,
      `${input.label}: ${exact.id} resets in ${held.resetMs} ms on Redis, ${exact.resetMs} ms embedded (bucket ${bucketMs} ms)`,
    );
  });
}

function comparableOutcome(outcome: ReserveOutcome): unknown {
  if (outcome.admitted) return { admitted: true, standings: comparable(outcome.standings) };
  return { admitted: false, blocked: outcome.blocked.id, retry: outcome.retryAfterMs === null ? null : 'later', standings: comparable(outcome.standings) };
}

describe('ledger differential: embedded vs Redis', () => {
  for (const seed of process.env.DIFF_SEEDS ? process.env.DIFF_SEEDS.split(',').map(Number) : [1, 2, 3, 4]) {
    it(`seed ${seed}: 300 random reserves, settles, releases and standings agree`, async () => {
      const random = seededRandom(seed);
      const memory: Ledger = new MemoryLedger({ sweepIntervalMs: 0 });
      const { ledger: redis, cleanup } = await makeTestLedger(`diff-${seed}`);
      try {
        const scopes = ['agent:a', 'agent:b', 'shared:team', 'agent:a|model:gpt-*'];
        const checks: LimitCheck[] = [];
        for (const scope of scopes) {
          for (let i = 0; i < 3; i++) {
            const metric = random() < 0.15 ? 'concurrency' : pick(random, METRICS);
            const windowMs = metric === 'concurrency' ? 0 : pick(random, WINDOWS);
            const limit = metric === 'concurrency' ? 1 + Math.floor(random() * 4) : pick(random, [1, 50, 5_000, 2_000_000, Number.MAX_SAFE_INTEGER]);
            checks.push({ id: `${scope}/${metric}/${windowMs}/${i}`, scope, metric, windowMs, limit });
          }
        }
        const open: Open[] = [];
        for (let step = 0; step < 300; step++) {
          const roll = random();
          const label = `seed ${seed} step ${step}`;
          if (roll < 0.5 || open.length === 0) {
            const touched = scopes.filter(() => random() < 0.6);
            const used = touched.length > 0 ? touched : [pick(random, scopes)];
            const applicable = checks.filter((check) => used.includes(check.scope) && random() < 0.8);
            const input = { id: `r-${seed}-${step}`, scopes: used, amounts: amounts(random), checks: applicable, leaseMs: HOUR };
            const [a, b] = await Promise.all([memory.reserve(input), redis.reserve(input)]);
            assert.deepEqual(comparableOutcome(b), comparableOutcome(a), `${label}: reserve ${JSON.stringify(input)}`);
            assertResetsAgree({ memory: a.standings, redis: b.standings, label });
            if (a.admitted) open.push({ id: input.id, amounts: input.amounts });
          } else if (roll < 0.8) {
            const [taken] = open.splice(Math.floor(random() * open.length), 1);
            const actual = random() < 0.3 ? taken.amounts : amounts(random);
            const settle = { id: taken.id, amounts: actual };
            const [a, b] = await Promise.all([memory.settle(settle), redis.settle(settle)]);
            assert.equal(b, a, `${label}: settle`);
            if (random() < 0.1) assert.deepEqual(await Promise.all([memory.settle(settle), redis.settle(settle)]), [false, false], `${label}: a second settle`);
          } else if (roll < 0.9) {
            const [taken] = open.splice(Math.floor(random() * open.length), 1);
            const [a, b] = await Promise.all([memory.release(taken.id), redis.release(taken.id)]);
            assert.equal(b, a, `${label}: release`);
          } else {
            const asked = checks.filter(() => random() < 0.5);
            const [a, b] = await Promise.all([memory.standing(asked), redis.standing(asked)]);
            assert.deepEqual(comparable(b), comparable(a), `${label}: standing`);
            assertResetsAgree({ memory: a, redis: b, label });
          }
        }
        const [a, b] = await Promise.all([memory.standing(checks), redis.standing(checks)]);
        assert.deepEqual(comparable(b), comparable(a), `seed ${seed}: final standing`);
      } finally {
        await memory.close();
        await cleanup();
      }
    });
  }
});
