// Spend survives a kill -9: the real binary is killed mid-life and restarted, and the budget still holds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { freePort, startProxyProcess } from '../helpers/process.ts';
import { writeProcessRoot } from '../helpers/process-root.ts';

describe('durable spend', () => {
  let fake: FakeUpstream;
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    fake = await startFakeUpstream();
    // two calls of 10 in + 100 out on gpt-4o cost 2,050 µ$; the third would pass $0.0025 with its estimate
    ({ root, env } = writeProcessRoot({ name: 'restart', upstreamUrl: fake.url, agentId: 'a', metadata: { token: 'a:s', budget: { limit_usd: 0.0025, window: '1h' } } }));
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
    // the journal is written right after each settlement; kill only once both lines are on disk (the replay is under test)
    const journal = join(root, 'history', '_ledger', 'journal.jsonl');
    for (let i = 0; i < 200 && journalLines(journal) < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
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
});

function journalLines(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}
