// A Redis outage under a running proxy: closed mode refuses with 503, open mode passes and logs, both recover by themselves.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { freePort, startProxyProcess, type RunningProxy } from '../helpers/process.ts';
import { writeProcessRoot } from '../helpers/process-root.ts';
import { PrivateRedis } from '../unit/ledger/redis-test-support.ts';

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

  const start = async (failMode: 'open' | 'closed', history: string): Promise<RunningProxy> => startProxyProcess({
    port: await freePort(),
    env: {
      CLAW_CONTEXT_ROOT: join(root, 'context'),
      CLAW_AUTH_DIR: join(root, 'auth'),
      CLAW_SESSION_HISTORY_DIR: join(root, history),
      TOLLGATE_LEDGER: 'redis',
      REDIS_URL: redis.url,
      TOLLGATE_REDIS_PREFIX: `test-${process.pid}-${Date.now()}`,
      CLLAMA_BUDGET_FAIL_MODE: failMode,
    },
  });
  const ask = (proxy: RunningProxy) => new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'a:s', maxRetries: 0 })
    .chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 });
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
});
