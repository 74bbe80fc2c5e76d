// A Redis outage under a running proxy: closed mode refuses with 503, open mode passes and logs, both recover by themselves.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../helpers/wait.ts';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { freePort, startProxyProcess, type RunningProxy } from '../helpers/process.ts';
import { writeProcessRoot } from '../helpers/process-root.ts';
import { PrivateRedis } from '../unit/ledger/redis-test-support.ts';
import { createRedisLedger } from '../../src/ledger/redis/ledger.ts';

describe('Redis outage under a running proxy', () => {
  let fake: FakeUpstream;
  let redis: PrivateRedis;
  let root: string;
  before(async () => {
    fake = await startFakeUpstream();
    redis = await PrivateRedis.start();
    ({ root } = writeProcessRoot({ name: 'outage', upstreamUrl: fake.url, agentId: 'a', metadata: { token: 'a:s', budget: { limit_usd: 1, window: '1h' } } }));
  });
  after(async () => {
    await redis.kill();
    await fake.close();
    rmSync(root, { recursive: true, force: true });
  });

  const start = async (failMode: 'open' | 'closed', history: string, prefix = `test-${process.pid}-${Date.now()}`): Promise<RunningProxy> =>
    startProxyProcess({
      port: await freePort(),
      env: {
        CLAW_CONTEXT_ROOT: join(root, 'context'),
        CLAW_AUTH_DIR: join(root, 'auth'),
        CLAW_SESSION_HISTORY_DIR: join(root, history),
        TOLLGATE_LEDGER: 'redis',
        REDIS_URL: redis.url,
        TOLLGATE_REDIS_PREFIX: prefix,
        CLLAMA_BUDGET_FAIL_MODE: failMode,
      },
    });
  const ask = (proxy: RunningProxy) =>
    new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'a:s', maxRetries: 0 }).chat.completions.create({
      model: 'openai/gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 10,
    });
  const health = async (proxy: RunningProxy) => {
    const response = await fetch(`${proxy.url}/health`);
    return { status: response.status, body: (await response.json()) as { ok: boolean; ledger: { ok: boolean } } };
  };
  const untilRedisAnswers = async (proxy: RunningProxy) => {
    for (let i = 0; i < 100; i++) {
      if ((await health(proxy)).body.ledger.ok) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail('the proxy never reconnected to Redis');
  };

  it('closed: 503 while Redis is down, health says so, and service resumes after Redis returns', async () => {
    const proxy = await start('closed', 'history-closed');
    try {
      await ask(proxy);
      await redis.kill();
      await assert.rejects(ask(proxy), (error: unknown) => {
        assert.equal((error as { status: number }).status, 503);
        return true;
      });
      const down = await health(proxy);
      assert.equal(down.status, 503);
      assert.equal(down.body.ledger.ok, false);
      await redis.restart();
      await untilRedisAnswers(proxy);
      await ask(proxy);
    } finally {
      await proxy.stop();
    }
  });

  it('open: passes while Redis is down and logs budget_check_unavailable, never counting in process memory', async () => {
    const proxy = await start('open', 'history-open');
    try {
      await redis.kill();
      const before = fake.requests.length;
      await ask(proxy);
      assert.equal(fake.requests.length, before + 1);
      assert.match(proxy.stdout(), /budget_check_unavailable/);
      assert.equal((await health(proxy)).status, 200);
      await redis.restart();
      await untilRedisAnswers(proxy);
      await ask(proxy);
    } finally {
      await proxy.stop();
    }
  });
  it('no charge is lost to the outage: calls that end while Redis is down, and calls passed unchecked, count once it is back', async () => {
    const prefix = `test-backlog-${process.pid}-${Date.now()}`;
    const proxy = await start('open', 'history-backlog', prefix);
    try {
      // admitted (reserved) before the outage, ends during it: its settle cannot be sent
      const streaming = fetch(`${proxy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer a:s', 'content-type': 'application/json', 'x-fake-behavior': JSON.stringify({ chunks: 10, chunkGapMs: 60 }) },
        body: JSON.stringify({ model: 'openai/gpt-4o', stream: true, max_tokens: 10, messages: [{ role: 'user', content: 'across the outage' }] }),
      }).then((response) => response.text());
      await new Promise((resolve) => setTimeout(resolve, 150));
      await redis.kill();
      assert.match(await streaming, /\[DONE\]/);
      // passed unchecked while Redis is down (fail open): usage kept for its return
      await ask(proxy);
      await ask(proxy);
      await redis.restart(); // empty: the reservation of the first call is gone with everything else
      await untilRedisAnswers(proxy);

      const history = readFileSync(join(root, 'history-backlog', 'a', 'history.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { usage: { cost_micros: number } });
      assert.equal(history.length, 3);
      const charged = history.reduce((sum, entry) => sum + entry.usage.cost_micros, 0);
      const ledger = await createRedisLedger({ url: redis.url, keyPrefix: prefix });
      try {
        const checks = [
          { id: 'usd', scope: 'agent:a', metric: 'usd_micros' as const, windowMs: 3_600_000, limit: 1_000_000 },
          { id: 'requests', scope: 'agent:a', metric: 'requests' as const, windowMs: 3_600_000, limit: 1_000 },
        ];
        let standing = await ledger.standing(checks);
        for (let i = 0; i < 100 && standing[1].used < 3; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          standing = await ledger.standing(checks);
        }
        assert.deepEqual([standing[0].used, standing[1].used], [charged, 3], 'every call counted once in the shared ledger, as history charged it');
      } finally {
        await ledger.close();
      }
      // the backlog reports once its last kept settlement is in: the line can reach our pipe after the ledger shows it
      await waitFor(() => /shared ledger back: 3 kept settlements applied/.test(proxy.stderr()), "the backlog's report");
    } finally {
      await proxy.stop();
    }
  });
});
