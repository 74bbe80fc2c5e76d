// Spend survives the process: a kill -9 and a restart keep the budget, a SIGTERM charges every call it cuts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { freePort, startProxyProcess } from '../helpers/process.ts';
import { writeProcessRoot } from '../helpers/process-root.ts';
import { dropPrefix, REDIS_URL, requireRedis, uniquePrefix } from '../unit/ledger/redis-test-support.ts';

describe('durable spend', () => {
  let fake: FakeUpstream;
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    fake = await startFakeUpstream();
    // two calls of 10 in + 100 out on gpt-4o cost 2,050 µ$; the third would pass $0.0025 with its estimate
    ({ root, env } = writeProcessRoot({
      name: 'restart',
      upstreamUrl: fake.url,
      agentId: 'a',
      metadata: { token: 'a:s', budget: { limit_usd: 0.0025, window: '1h' } },
    }));
  });
  after(async () => {
    await fake.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('keeps the window after kill -9 and a restart', async () => {
    const first = await startProxyProcess({ env, port: await freePort() });
    const client = new OpenAI({ baseURL: `${first.url}/v1`, apiKey: 'a:s', maxRetries: 0 });
    const ask = (c: OpenAI) => c.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 });
    await ask(client);
    await ask(client);
    // each answer ended only once its charge was in the journal: both lines are on disk, no waiting
    const journal = join(root, 'history', '_ledger', 'journal.jsonl');
    assert.equal(journalLines(journal), 2);
    await first.stop('SIGKILL');

    const second = await startProxyProcess({ env, port: await freePort() });
    try {
      const again = new OpenAI({ baseURL: `${second.url}/v1`, apiKey: 'a:s', maxRetries: 0 });
      await assert.rejects(ask(again), (error: unknown) => {
        assert.equal((error as { status: number }).status, 429);
        return true;
      });
      assert.equal(fake.requests.length, 2);
    } finally {
      await second.stop();
    }
  });
  it('on SIGTERM, charges and records every stream it had to cut before the ledger closes (Redis: settling takes a round trip)', async () => {
    await requireRedis();
    const prefix = uniquePrefix('shutdown');
    const redisEnv = { TOLLGATE_LEDGER: 'redis', REDIS_URL, TOLLGATE_REDIS_PREFIX: prefix, TOLLGATE_SHUTDOWN_GRACE_MS: '200' };
    const proxy = await startProxyProcess({ env: { ...env, ...redisEnv }, port: await freePort() });
    try {
      const readers = await Promise.all(
        Array.from({ length: 8 }, async (_, index) => {
          const response = await fetch(`${proxy.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: 'Bearer a:s', 'content-type': 'application/json', 'x-fake-behavior': JSON.stringify({ chunks: 200, chunkGapMs: 20 }) },
            body: JSON.stringify({ model: 'openai/gpt-4o', stream: true, max_tokens: 5, messages: [{ role: 'user', content: `cut by shutdown ${index}` }] }),
          });
          const reader = response.body!.getReader();
          await reader.read(); // the stream is flowing
          return reader;
        }),
      );
      await proxy.stop('SIGTERM');
      await Promise.all(readers.map((reader) => reader.closed.catch(() => undefined)));
      const history = readFileSync(join(root, 'history', 'a', 'history.jsonl'), 'utf8');
      const recorded = Array.from({ length: 8 }, (_, index) => history.includes(`cut by shutdown ${index}`)).filter(Boolean).length;
      assert.equal(recorded, 8, 'each cut stream was settled in Redis and recorded before the process closed its ledger');
    } finally {
      await dropPrefix(prefix);
    }
  });
  it('a second process on the same embedded ledger refuses to start, before touching the journal; the first keeps serving', async () => {
    const own = writeProcessRoot({ name: 'lock', upstreamUrl: fake.url, agentId: 'a', metadata: { token: 'a:s', budget: { limit_usd: 1, window: '1h' } } });
    const first = await startProxyProcess({ env: own.env, port: await freePort() });
    try {
      const client = new OpenAI({ baseURL: `${first.url}/v1`, apiKey: 'a:s', maxRetries: 0 });
      await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'before' }], max_tokens: 10 });
      const journal = join(own.root, 'history', '_ledger', 'journal.jsonl');
      for (let i = 0; i < 200 && journalLines(journal) < 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      const journalBefore = readFileSync(journal, 'utf8');
      await assert.rejects(startProxyProcess({ env: own.env, port: await freePort() }), (error: unknown) => {
        assert.match((error as Error).message, /exited early \(1\)/);
        assert.match((error as Error).message, new RegExp(`data directory .*_ledger is in use by tollgate pid ${first.child.pid}`));
        return true;
      });
      assert.equal(readFileSync(journal, 'utf8'), journalBefore, 'the refused process did not compact or replay-rewrite the journal');
      const after = await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'after' }], max_tokens: 10 });
      assert.equal(after.choices.length, 1);
    } finally {
      await first.stop();
    }
    assert.ok(!existsSync(join(own.root, 'history', '_ledger', 'tollgate.lock')), 'released on a clean stop');
    rmSync(own.root, { recursive: true, force: true });
  });
});

/** Settlement lines (not the watermark lines `{"t":..,"m":[..]}` start-up writes). */
function journalLines(file: string): number {
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line && !line.includes('"m":')).length
    : 0;
}
