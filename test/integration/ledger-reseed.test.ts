// After a Redis loss, `tollgate ledger reseed` counts the replicas' history back in and the budget holds again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { BIN, freePort, startProxyProcess } from '../helpers/process.ts';
import { writeProcessRoot } from '../helpers/process-root.ts';
import { PrivateRedis } from '../unit/ledger/redis-test-support.ts';

const run = promisify(execFile);

describe('ledger reseed after a Redis loss', () => {
  let fake: FakeUpstream;
  let redis: PrivateRedis;
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    fake = await startFakeUpstream();
    redis = await PrivateRedis.start();
    // each call costs 1,025 µ$ and reserves a little more; three fit under $0.0035, a fourth does not
    const written = writeProcessRoot({
      name: 'reseed',
      upstreamUrl: fake.url,
      agentId: 'a',
      metadata: { token: 'a:s', budget: { limit_usd: 0.0035, window: '1h' } },
    });
    root = written.root;
    env = {
      ...written.env,
      TOLLGATE_LEDGER: 'redis',
      REDIS_URL: redis.url,
      TOLLGATE_REDIS_PREFIX: `test-${process.pid}-${Date.now()}`,
      CLLAMA_BUDGET_FAIL_MODE: 'closed',
    };
  });
  after(async () => {
    await redis.kill();
    await fake.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('restores the window from history so the limit holds again', async () => {
    const proxy = await startProxyProcess({ env, port: await freePort() });
    const ask = () =>
      new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'a:s', maxRetries: 0 }).chat.completions.create({
        model: 'openai/gpt-4o',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 100,
      });
    try {
      await ask();
      await ask();
      // the client has its answer before the proxy settles (a round trip to Redis): wait for both settlements (history is
      // written after each), or a flush in between would be a call settled after the loss, counted twice by design
      const historyFile = join(root, 'history', 'a', 'history.jsonl');
      for (let waited = 0; historyLines(historyFile) < 2; waited += 10) {
        assert.ok(waited < 3000, 'both calls settled and recorded');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // Redis loses everything (a restart without persistence)
      const client = new Redis(redis.url);
      await client.flushall();
      await client.quit();
      const { stdout } = await run(process.execPath, [BIN, 'ledger', 'reseed', '--json'], { env: { PATH: process.env.PATH ?? '', ...env } });
      const result = JSON.parse(stdout) as { done: boolean; records: number };
      assert.equal(result.done, true);
      assert.equal(result.records, 2);
      await ask();
      await assert.rejects(ask(), (error: unknown) => {
        assert.equal((error as { status: number }).status, 429);
        return true;
      });
      // a second reseed of the same ledger life is refused (no double counting)
      await assert.rejects(run(process.execPath, [BIN, 'ledger', 'reseed'], { env: { PATH: process.env.PATH ?? '', ...env } }), (error: unknown) => {
        assert.match(String((error as { stdout: string }).stdout), /already re-seeded/);
        return true;
      });
    } finally {
      await proxy.stop();
    }
  });
});

function historyLines(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}
