// The loop breaker shared on Redis judges exactly as one process does: the same calls spread over 3 replicas, the same verdicts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoopBreaker } from '../../../src/budget/loop-breaker.ts';
import { SharedLoopState } from '../../../src/budget/loop-shared.ts';
import { DEFAULT_LOOP, type LoopSettings } from '../../../src/budget/loop-policy.ts';
import type { LoopState, LoopVerdict } from '../../../src/budget/loop-verdict.ts';
import { createRedisSharedState, type RedisSharedState } from '../../../src/ledger/redis/shared-state.ts';
import { seededRandom } from '../../helpers/random.ts';
import { dropPrefix, REDIS_URL, requireRedis, uniquePrefix } from '../ledger/redis-test-support.ts';

interface Call {
  readonly request: string;
  readonly toolCall: string | null;
  /** ms after the previous call */
  readonly stepMs: number;
}

const START = Date.parse('2026-12-07T09:00:00Z');
const settings = (over: Partial<LoopSettings> = {}): LoopSettings => ({ ...DEFAULT_LOOP, ...over });
const brief = (verdict: LoopVerdict | null) => verdict && { ...verdict };

describe('loop state shared by 3 replicas on Redis', () => {
  const prefix = uniquePrefix('loop');
  const replicas: RedisSharedState[] = [];
  before(async () => {
    await requireRedis();
    for (let i = 0; i < 3; i++) replicas.push(await createRedisSharedState({ url: REDIS_URL, keyPrefix: prefix }));
  });
  after(async () => {
    await Promise.all(replicas.map((replica) => replica.close()));
    await dropPrefix(prefix);
  });

  /** Runs the calls through one process's breaker and, round robin, through 3 replicas sharing Redis. */
  const both = async (agent: string, loop: LoopSettings, calls: readonly Call[]) => {
    let now = START;
    const clock = () => now;
    const memory = new LoopBreaker({ now: clock });
    const shared: LoopState[] = replicas.map(
      (replica) => new SharedLoopState({ script: (lua) => replica.script(lua), now: clock, onError: (error) => assert.fail(error) }),
    );
    const alone: (LoopVerdict | null)[] = [];
    const spread: (LoopVerdict | null)[] = [];
    for (const [index, call] of calls.entries()) {
      now += call.stepMs;
      const fingerprint = { request: call.request, toolCall: call.toolCall };
      alone.push(brief(memory.observe({ agentId: agent, fingerprint, settings: loop })));
      spread.push(brief(await shared[index % 3].observe({ agentId: agent, fingerprint, settings: loop })));
    }
    return { alone, spread, memory, shared, now };
  };

  it('a looping agent on 3 replicas is flagged at the same call, and escalates alert → rate_limit → hard_stop, as on one process', async () => {
    const loop = settings({ sameToolCall: 3, escalateAfter: 2, action: 'hard_stop', withinMs: 60_000, within: '1m' });
    const calls = Array.from({ length: 12 }, (_, i) => ({ request: `r${i}`, toolCall: 'run_tests', stepMs: 1000 }));
    const { alone, spread, shared, memory } = await both('agent-tool', loop, calls);
    assert.deepEqual(spread, alone);
    assert.deepEqual(
      spread.map((verdict) => verdict?.level ?? null),
      [null, null, 'alert', 'alert', 'rate_limit', 'rate_limit', 'hard_stop', 'hard_stop', 'hard_stop', 'hard_stop', 'hard_stop', 'hard_stop'],
    );
    // no replica saw more than 4 of the 12 calls: alone, none would have reached the 3rd strike of a run
    assert.deepEqual(await shared[1].view('agent-tool', loop), memory.view('agent-tool', loop));
  });

  it('calls admitted in one turn go as one script, judged in their order', async () => {
    const loop = settings({ sameToolCall: 3, escalateAfter: 2, action: 'hard_stop' });
    let now = START;
    const memory = new LoopBreaker({ now: () => now });
    const shared = new SharedLoopState({ script: (lua) => replicas[0].script(lua), now: () => now, onError: (error) => assert.fail(error) });
    const fingerprint = (i: number) => ({ request: `r${i}`, toolCall: i % 7 === 6 ? null : 'same-tool' });
    const agents = ['batch-a', 'batch-b'];
    const pending = [];
    const alone = [];
    for (let i = 0; i < 24; i++) {
      now += 10;
      const agentId = agents[i % 2];
      pending.push(shared.observe({ agentId, fingerprint: fingerprint(i >> 1), settings: loop }));
      alone.push(brief(memory.observe({ agentId, fingerprint: fingerprint(i >> 1), settings: loop })));
    }
    assert.deepEqual((await Promise.all(pending)).map(brief), alone);
    assert.ok(alone.some((verdict) => verdict?.level === 'hard_stop'));
  });

  it('the same request K times within W, a hard stop that outlasts the loop, and its end', async () => {
    const loop = settings({ sameRequest: 4, withinMs: 10_000, within: '10s', escalateAfter: 1, action: 'hard_stop' });
    const calls: Call[] = [
      ...Array.from({ length: 8 }, (_, i) => ({ request: 'same', toolCall: `t${i}`, stepMs: 500 })),
      { request: 'different', toolCall: null, stepMs: 1000 },
      { request: 'different-again', toolCall: null, stepMs: 20_000 },
    ];
    const { alone, spread } = await both('agent-request', loop, calls);
    assert.deepEqual(spread, alone);
    assert.deepEqual(
      spread.map((verdict) => verdict && `${verdict.detector}:${verdict.level}`),
      [
        null,
        null,
        null,
        'same_request:alert',
        'same_request:rate_limit',
        'same_request:hard_stop',
        'same_request:hard_stop',
        'same_request:hard_stop',
        'same_request:hard_stop',
        null,
      ],
    );
  });

  it("a velocity spike against the agent's own rate escalates on every replica; a steady rate is never flagged", async () => {
    const loop = settings({ action: 'hard_stop', escalateAfter: 2, velocityMultiple: 5, velocityMinRpm: 20 });
    const steady = Array.from({ length: 15 * 10 }, (_, i) => ({ request: `s${i}`, toolCall: null, stepMs: 6000 })); // 10 a minute for 15 minutes
    const burst = Array.from({ length: 70 }, (_, i) => ({ request: `b${i}`, toolCall: null, stepMs: 100 })); // 70 within 7 s
    const { alone, spread } = await both('agent-velocity', loop, [...steady, ...burst]);
    assert.deepEqual(spread, alone);
    assert.ok(
      spread.slice(0, steady.length).every((verdict) => verdict === null),
      'a steady rate is its own baseline',
    );
    const flagged = spread.slice(steady.length).filter((verdict) => verdict !== null);
    assert.deepEqual([...new Set(flagged.map((verdict) => verdict?.level))], ['alert', 'rate_limit', 'hard_stop']);
    assert.ok(flagged.every((verdict) => verdict?.detector === 'velocity'));
  });

  it('random call sequences: every verdict the same on 3 replicas as on one process', async () => {
    const next = seededRandom(20);
    const random = { int: (below: number) => Math.floor(next() * below) };
    let flagging = 0;
    for (let round = 0; round < 8; round++) {
      const loop = settings({
        sameRequest: 2 + random.int(5),
        sameToolCall: 2 + random.int(5),
        withinMs: 5_000 + random.int(30_000),
        escalateAfter: 1 + random.int(3),
        action: (['alert', 'rate_limit', 'hard_stop'] as const)[random.int(3)],
        velocityMultiple: random.int(4),
        velocityMinRpm: 5 + random.int(20),
      });
      // a few requests and tool calls, many of them repeated, at uneven steps; 20 fingerprints overflow the 16 kept
      const calls = Array.from({ length: 300 }, () => ({
        request: `r${random.int(round % 2 === 0 ? 4 : 20)}`,
        toolCall: random.int(4) === 0 ? null : `t${random.int(3)}`,
        stepMs: [10, 500, 3000, 15_000, 90_000][random.int(5)],
      }));
      const { alone, spread } = await both(`agent-random-${round}`, loop, calls);
      assert.deepEqual(spread, alone, `round ${round}: ${JSON.stringify(loop)}`);
      if (alone.some((verdict) => verdict !== null)) flagging++;
    }
    assert.ok(flagging >= 4, `${flagging} of 8 rounds flag something`);
  });

  it("off: no state is written; the agent's hash expires an hour after its last call", async () => {
    const { shared } = await both('agent-off', settings({ enabled: false }), [{ request: 'r', toolCall: null, stepMs: 1 }]);
    assert.equal(await shared[0].view('agent-off', DEFAULT_LOOP), null);
    await both('agent-ttl', DEFAULT_LOOP, [{ request: 'r', toolCall: null, stepMs: 1 }]);
    const { Redis } = await import('ioredis');
    const client = new Redis(REDIS_URL);
    try {
      assert.equal(await client.exists(`{${prefix}}:shared:v1:v:loop:agent-off`), 0);
      const ttl = await client.pttl(`{${prefix}}:shared:v1:v:loop:agent-ttl`);
      assert.ok(ttl > 60 * 60_000 && ttl <= 70 * 60_000, `ttl ${ttl}`);
    } finally {
      client.disconnect();
    }
  });
});
