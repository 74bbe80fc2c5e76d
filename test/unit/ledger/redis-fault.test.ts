// Redis ledger faults on a private Redis: down at start, killed and restarted, hung; fail fast, recover, no local fallback.
import { after, before, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { LedgerOutcomeUnknownError, LedgerUnreachableError, type LimitCheck, type ReserveInput } from '../../../src/ledger/ledger.ts';
import { createRedisLedger, type RedisLedger, type RedisStateChange } from '../../../src/ledger/redis/ledger.ts';
import { PrivateRedis, waitFor, watch } from './redis-test-support.ts';

const limit: LimitCheck = { id: 'agent:f/usd', scope: 'agent:f', metric: 'usd_micros', windowMs: 60_000, limit: 1000 };

function reservation(usd: number, leaseMs = 30_000): ReserveInput {
  return { id: randomUUID(), scopes: ['agent:f'], amounts: { usd_micros: usd }, checks: [limit], leaseMs };
}

async function isHealthy(ledger: RedisLedger): Promise<boolean> {
  return (await ledger.health()).ok;
}

describe('redis ledger faults', { concurrency: false }, () => {
  let redis: PrivateRedis;
  before(async () => {
    redis = await PrivateRedis.start({ password: 's3cr3t-pass' });
  });
  beforeEach(async () => {
    // A test that failed half-way may leave it paused or killed: every test starts with a running Redis.
    redis.resume();
    if (!redis.running) await redis.restart();
  });
  after(async () => {
    redis.resume();
    await redis.kill();
  });

  it('starts while Redis is down, rejects every operation, and recovers when Redis comes up', async () => {
    await redis.kill();
    const changes: RedisStateChange[] = [];
    const ledger = await createRedisLedger({ url: redis.url, onStateChange: (change) => changes.push(change) });
    try {
      const health = await ledger.health();
      assert.equal(health.ok, false);
      assert.equal(health.kind, 'redis');
      assert.match(health.detail ?? '', new RegExp(`127\\.0\\.0\\.1:${redis.port}`));
      assert.doesNotMatch(health.detail ?? '', /s3cr3t/, 'the password never appears in health');
      for (const operation of [
        () => ledger.reserve(reservation(1)),
        () => ledger.settle({ id: 'x', amounts: {} }),
        () => ledger.release('x'),
        () => ledger.standing([limit]),
        () => ledger.record({ scopes: ['agent:f'], amounts: { requests: 1 }, at: Date.now() }),
      ]) {
        await assert.rejects(operation(), (error: Error) => {
          assert.match(error.message, /redis ledger unavailable/);
          assert.doesNotMatch(error.message, /s3cr3t/);
          return true;
        });
      }
      await redis.restart();
      await waitFor('the ledger to reconnect', () => isHealthy(ledger));
      assert.equal((await ledger.reserve(reservation(10))).admitted, true);
      assert.ok(changes.some((change) => change.state === 'up'));
    } finally {
      await ledger.close();
    }
  });

  it('fails fast while a killed Redis is away, never counts locally, and works again after a restart', async () => {
    const changes: RedisStateChange[] = [];
    const ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'kill', onStateChange: (change) => changes.push(change) });
    try {
      const held = reservation(600);
      assert.equal((await ledger.reserve(held)).admitted, true);
      await redis.kill();
      await waitFor('the ledger to notice', async () => !(await isHealthy(ledger)) && changes.at(-1)?.state === 'down');
      const rejections = await Promise.allSettled(Array.from({ length: 20 }, () => ledger.reserve(reservation(600))));
      assert.ok(
        rejections.every((result) => result.status === 'rejected'),
        'no reservation is admitted from per-process state',
      );
      await assert.rejects(ledger.settle({ id: held.id, amounts: { usd_micros: 1 } }), /unavailable/);

      await redis.restart();
      await waitFor('the ledger to reconnect', async () => (await isHealthy(ledger)) && changes.at(-1)?.state === 'up');
      // This Redis kept nothing (no persistence): the old hold is gone with it and a new life begins.
      assert.equal(await ledger.settle({ id: held.id, amounts: { usd_micros: 1 } }), false);
      assert.equal((await ledger.reserve(reservation(1000))).admitted, true);
      assert.equal((await ledger.reserve(reservation(1))).admitted, false);
    } finally {
      await ledger.close();
    }
  });

  it('on a hung Redis: the outcome is unknown after the command timeout; a reserve run late holds nothing, a retried settle counts once', async () => {
    const ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'hung', commandTimeoutMs: 300 });
    try {
      const held = reservation(200);
      assert.equal((await ledger.reserve(held)).admitted, true);
      redis.pause();
      const late = reservation(500);
      await assert.rejects(ledger.reserve(late), (error: Error) => error instanceof LedgerOutcomeUnknownError && /timed out/.test(error.message));
      await assert.rejects(ledger.settle({ id: held.id, amounts: { usd_micros: 150 } }), LedgerOutcomeUnknownError);
      assert.equal((await ledger.health()).ok, false);
      redis.resume();
      await waitFor('Redis to answer again', () => isHealthy(ledger));
      // Redis ran both on resuming: the reserve after its deadline (its sender had stopped waiting), so it held nothing
      const [standing] = await ledger.standing([limit]);
      assert.deepEqual([standing.used, standing.reserved], [150, 0], 'the settle ran, the late reserve held nothing');
      // resolved by id, as the replica does when Redis answers again: nothing counted twice, nothing left held
      assert.equal(await ledger.settle({ id: held.id, amounts: { usd_micros: 150 }, orRecord: { scopes: ['agent:f'], at: Date.now() } }), false);
      assert.equal(await ledger.release(late.id), false);
      await assert.rejects(ledger.reserve(late), /already released or settled/);
      assert.deepEqual(
        (await ledger.standing([limit])).map((one) => [one.used, one.reserved]),
        [[150, 0]],
      );
      assert.equal((await ledger.reserve(reservation(850))).admitted, true, 'all the room left is free at once, not after a lease');
    } finally {
      await ledger.close();
    }
  });

  /**
   * Pauses Redis and mocks the clock from there: the bounds are counted in ledger time, not measured against a loaded
   * machine. `turn()` lets pending I/O and promises run; `elapse(ms)` moves the clock and lets what it fired settle.
   */
  async function stall(): Promise<{ turn(): Promise<void>; elapse(ms: number): Promise<void>; end(): void }> {
    await redis.pauseFully();
    mock.timers.enable({ apis: ['setTimeout'] });
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    return {
      turn,
      async elapse(ms) {
        mock.timers.tick(ms);
        for (let i = 0; i < 10; i++) await turn();
      },
      end() {
        mock.timers.reset();
        redis.resume();
      },
    };
  }

  it('on a hung Redis, once a command went unanswered the others fail at once and unsent, one probe waits; a reply ends it', async () => {
    const ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'silent', commandTimeoutMs: 1000 });
    const hung = await stall();
    try {
      const first = watch(ledger.standing([limit]));
      await hung.turn();
      await hung.elapse(1000);
      assert.ok(first.error instanceof LedgerOutcomeUnknownError, 'the first waits its whole timeout');
      // Redis is taken as stalled now: the next command goes out as the probe and waits...
      const probe = watch(ledger.standing([limit]));
      await hung.turn();
      // ...and another fails at once (the clock has not moved), without being sent: nothing of it can run later
      const record = watch(ledger.settle({ id: 'silent-1', amounts: { usd_micros: 70 }, orRecord: { scopes: ['agent:f'], at: Date.now() } }));
      await hung.turn();
      assert.ok(record.error instanceof LedgerUnreachableError, `unsent, so known not to have run: ${String(record.error)}`);
      assert.equal(probe.done, false, 'the probe still waits');
      await hung.elapse(1000);
      assert.ok(probe.error instanceof LedgerOutcomeUnknownError, 'the probe waited its timeout');
      hung.end();
      // the next command probes again, gets its reply, and commands flow: the refused record never ran
      await waitFor('Redis to answer again', () => isHealthy(ledger));
      assert.deepEqual(
        (await ledger.standing([limit])).map((one) => one.used),
        [0],
      );
      assert.equal(await ledger.settle({ id: 'silent-1', amounts: { usd_micros: 70 }, orRecord: { scopes: ['agent:f'], at: Date.now() } }), true);
      assert.deepEqual(
        (await ledger.standing([limit])).map((one) => one.used),
        [70],
      );
    } finally {
      hung.end();
      await ledger.close();
    }
  });

  it('on a hung Redis, health asked while a command waits says down after one command timeout, not two', async () => {
    const ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'health-queued', commandTimeoutMs: 1000 });
    assert.equal((await ledger.health()).ok, true);
    const hung = await stall();
    try {
      const first = watch(ledger.standing([limit]));
      await hung.turn();
      await hung.turn();
      // a probe of /health arrives while that read waits: its GET queues behind the read's pipeline
      const health = watch(ledger.health());
      await hung.turn();
      await hung.elapse(1000);
      assert.ok(first.error instanceof LedgerOutcomeUnknownError);
      assert.ok(health.done, 'health answered one command timeout after it was asked');
      assert.equal(health.value?.ok, false);
    } finally {
      hung.end();
      await ledger.close();
    }
  });

  it('on a hung Redis, an operation sent while another waits gets its own command timeout, not two; it still runs once', async () => {
    const ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'queued', commandTimeoutMs: 1000 });
    const held = reservation(200);
    assert.equal((await ledger.reserve(held)).admitted, true);
    const hung = await stall();
    try {
      // a read goes out first and waits on the stalled Redis (auto-pipelining sends it on the next turn)...
      const first = watch(ledger.standing([limit]));
      await hung.turn();
      await hung.turn();
      // ...then a call ends and settles: its command queues behind the first one's pipeline, unsent
      const settle = watch(ledger.settle({ id: held.id, amounts: { usd_micros: 150 } }));
      await hung.turn();
      await hung.elapse(1000);
      assert.ok(first.error instanceof LedgerOutcomeUnknownError, 'the first times out after the command timeout');
      // ioredis starts its own timer only when it writes a command, and auto-pipelining holds the settle back until the
      // first's pipeline gives up: counted from there, it waited 2 s (and so did the end of the answer of a call that
      // ended during a stall, docs/deploy.md)
      assert.ok(settle.error instanceof LedgerOutcomeUnknownError, 'the settle gives up one command timeout after it was issued, outcome unknown');
      hung.end();
      await waitFor('Redis to answer again', () => isHealthy(ledger));
      // it was sent when the first gave up, and Redis ran it on resuming: counted once, and the retry (the backlog's) counts nothing
      await waitFor('the queued settle to have run', async () => (await ledger.standing([limit]))[0].used === 150);
      assert.equal(await ledger.settle({ id: held.id, amounts: { usd_micros: 150 }, orRecord: { scopes: ['agent:f'], at: Date.now() } }), false);
      assert.deepEqual(
        (await ledger.standing([limit])).map((one) => [one.used, one.reserved]),
        [[150, 0]],
      );
    } finally {
      hung.end();
      await ledger.close();
    }
  });

  it('a replica gone during a stall leaves no hold: its reserves, run when Redis resumes, are past their deadline', async () => {
    const dying = await createRedisLedger({ url: redis.url, keyPrefix: 'gone', commandTimeoutMs: 300 });
    const survivor = await createRedisLedger({ url: redis.url, keyPrefix: 'gone' });
    const admin = new Redis(redis.url);
    try {
      const slots: LimitCheck = { id: 'slots', scope: 'agent:f', metric: 'concurrency', windowMs: 0, limit: 10 };
      const warm = reservation(1);
      assert.equal((await dying.reserve(warm)).admitted, true); // its reply tells the replica the server's time
      assert.equal(await dying.release(warm.id), true);
      redis.pause();
      const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => dying.reserve({ ...reservation(100), checks: [limit, slots] })));
      assert.ok(
        outcomes.every((outcome) => outcome.status === 'rejected' && outcome.reason instanceof LedgerOutcomeUnknownError),
        'sent, no reply',
      );
      // the replica dies before Redis answers: nobody will ever release those ids
      (dying as unknown as { connection: { client: Redis } }).connection.client.disconnect();
      redis.resume();
      // Redis runs what the dead connection had sent before it lets it go
      await waitFor(
        'the dead connection to be gone',
        async () =>
          String(await admin.client('LIST'))
            .trim()
            .split('\n').length <= 2,
      );
      const [usd, inFlight] = await survivor.standing([limit, slots]);
      assert.deepEqual([usd.reserved, inFlight.used], [0, 0], 'no hold and no slot left for the lease to free');
    } finally {
      admin.disconnect();
      await survivor.close();
      await dying.close();
    }
  });

  it('loads its functions again when Redis forgot them (FUNCTION FLUSH)', async () => {
    const ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'flush' });
    const admin = new Redis(redis.url);
    try {
      assert.equal((await ledger.reserve(reservation(10))).admitted, true);
      await admin.call('FUNCTION', 'FLUSH');
      assert.equal((await ledger.reserve(reservation(10))).admitted, true);
      assert.equal((await ledger.standing([limit]))[0].reserved, 20);
    } finally {
      admin.disconnect();
      await ledger.close();
    }
  });

  it('keeps running reservations consistent when Redis dies mid-load: after restart nothing is left held', async () => {
    const ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'load' });
    try {
      let stop = false;
      let failures = 0;
      const workers = Array.from({ length: 8 }, async () => {
        while (!stop) {
          const input = reservation(1, 2000);
          try {
            if ((await ledger.reserve(input)).admitted) await ledger.settle({ id: input.id, amounts: { usd_micros: 1 } });
          } catch {
            failures += 1;
            await sleep(5);
          }
        }
      });
      await sleep(200);
      await redis.kill();
      await sleep(200);
      await redis.restart();
      await waitFor('the ledger to reconnect', () => isHealthy(ledger));
      await sleep(200);
      stop = true;
      await Promise.all(workers);
      assert.ok(failures > 0, 'operations failed while Redis was down');
      const [standing] = await ledger.standing([limit]);
      assert.equal(standing.reserved, 0, 'every reservation made after the restart was settled');
    } finally {
      await ledger.close();
    }
  });
});
