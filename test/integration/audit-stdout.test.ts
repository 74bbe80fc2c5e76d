// The audit stream of the real binary: JSON lines on stdout, and a proxy that keeps serving when nobody reads them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { freePort, startProxyProcess } from '../helpers/process.ts';
import { writeProcessRoot } from '../helpers/process-root.ts';
import { waitFor } from '../helpers/wait.ts';

describe('audit stream on stdout', () => {
  let fake: FakeUpstream;
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    fake = await startFakeUpstream();
    ({ root, env } = writeProcessRoot({
      name: 'audit',
      upstreamUrl: fake.url,
      agentId: 'a',
      metadata: { token: 'a:secret-audit-4711' },
      apiKey: 'sk-real-audit-key',
    }));
  });
  after(async () => {
    await fake.close();
    rmSync(root, { recursive: true, force: true });
  });

  const ask = (url: string) =>
    new OpenAI({ baseURL: `${url}/v1`, apiKey: 'a:secret-audit-4711', maxRetries: 0 }).chat.completions.create({
      model: 'openai/gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
    });

  it('writes a request and a response line per call, without the key or the secret', async () => {
    const proxy = await startProxyProcess({ env, port: await freePort() });
    try {
      const completion = await ask(proxy.url);
      const lines = () =>
        proxy
          .stdout()
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      await waitFor(() => lines().some((line) => line.type === 'response'), 'response line');
      const mine = lines().filter((line) => line.claw_id === 'a');
      assert.deepEqual(
        mine.map((line) => line.type),
        ['request', 'response'],
      );
      assert.equal(mine[1].tokens_out, completion.usage?.completion_tokens);
      assert.ok(!proxy.stdout().includes('sk-real-audit-key') && !proxy.stdout().includes('secret-audit-4711'));
    } finally {
      await proxy.stop();
    }
  });

  it('keeps answering when the process reading its stdout has gone away', async () => {
    const reader = spawn('head', ['-c', '1'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const readerGone = new Promise((resolve) => reader.once('exit', resolve));
    const proxy = await startProxyProcess({ env, port: await freePort(), stdout: reader.stdin! });
    reader.stdin!.destroy(); // this process's end of the pipe; the proxy holds the other
    try {
      await ask(proxy.url); // its audit lines reach the reader, which exits after one byte
      await readerGone;
      for (let i = 0; i < 10; i++) assert.equal((await ask(proxy.url)).choices.length, 1);
      assert.equal(proxy.child.exitCode, null, 'still running after writing to a pipe nobody reads');
      assert.equal((await fetch(`${proxy.url}/health`)).status, 200);
    } finally {
      await proxy.stop();
    }
  });
});
