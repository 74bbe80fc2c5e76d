// cllama's environment contract end to end, on the real binary: listen addresses, the mounted directories, providers.json v1 and v2, key variables and their precedence.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { freePort, startProxyProcess, type RunningProxy } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';

/** A root with agent `a` (token a:s) and `auth/providers.json` holding `providers`; returns the root. */
function writeRoot(providers: unknown): string {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-cllama-env-'));
  mkdirSync(join(root, 'context', 'a'), { recursive: true });
  writeFileSync(join(root, 'context', 'a', 'metadata.json'), JSON.stringify({ token: 'a:s', service: 'a', pod: 'pod-of-a', type: 'worker' }));
  mkdirSync(join(root, 'auth'));
  writeFileSync(join(root, 'auth', 'providers.json'), JSON.stringify(providers));
  return root;
}

function dirsOf(root: string): Record<string, string> {
  return { CLAW_CONTEXT_ROOT: join(root, 'context'), CLAW_AUTH_DIR: join(root, 'auth'), CLAW_SESSION_HISTORY_DIR: join(root, 'sessions') };
}

/** Whether this machine can listen on the IPv6 loopback (CI containers without IPv6 cannot). */
function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

/** Sends one call as agent a and returns what the upstream saw of it. */
async function seenUpstream(input: {
  proxy: RunningProxy;
  fake: FakeUpstream;
  path?: string;
  body: Record<string, unknown>;
}): Promise<FakeUpstream['requests'][number]> {
  const before = input.fake.requests.length;
  const response = await fetch(`${input.proxy.url}${input.path ?? '/v1/chat/completions'}`, {
    method: 'POST',
    headers: { authorization: 'Bearer a:s', 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, ...input.body }),
  });
  assert.equal(response.status, 200, `${JSON.stringify(input.body)}: ${await response.clone().text()}`);
  await response.text();
  assert.equal(input.fake.requests.length, before + 1);
  return input.fake.requests[before];
}

describe('environment contract: providers.json v2, LISTEN_ADDR and UI_ADDR as :port, the mounted directories', () => {
  let fake: FakeUpstream;
  let root: string;
  let proxy: RunningProxy;
  let uiPort: number;
  before(async () => {
    fake = await startFakeUpstream();
    const base = `${fake.url}/v1`;
    root = writeRoot({
      version: 2,
      providers: {
        OpenAI: {
          base_url: base,
          auth: 'bearer',
          active_key_id: 'k-active',
          keys: [
            { id: 'k-dead', secret: 'sk-dead', state: 'dead' },
            { id: 'k-first', secret: 'sk-first', state: 'ready' },
            { id: 'k-active', secret: 'sk-active', state: 'ready' },
          ],
        },
        anthropic: { base_url: base, keys: [{ id: 'a1', secret: 'sk-ant-file', state: 'cooldown', cooldown_until: '2020-01-01T00:00:00Z' }] },
      },
    });
    const port = await freePort();
    uiPort = await freePort();
    proxy = await startProxyProcess({
      port,
      listenAddr: `:${port}`,
      env: {
        ...dirsOf(root),
        UI_ADDR: `:${uiPort}`,
        CLAW_POD: 'pod-x',
        OPENAI_API_KEY: 'sk-env-not-used', // the file names openai: it is authoritative
        ANTHROPIC_API_KEY: 'sk-env-not-used',
        XAI_API_KEY_1: 'sk-xai-backup',
        XAI_BASE_URL: base,
        GEMINI_API_KEY: 'sk-gemini',
        GOOGLE_API_KEY: 'sk-google',
        GOOGLE_BASE_URL: `${base}/`,
        AI_GATEWAY_API_KEY: 'sk-vercel',
        AI_GATEWAY_API_KEY_2: 'sk-vercel-backup',
        AI_GATEWAY_BASE_URL: base,
        OLLAMA_BASE_URL: base,
      },
    });
  });
  after(async () => {
    await proxy?.stop();
    await fake?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('LISTEN_ADDR=:<port> listens on every interface, IPv6 too, as Go does', async () => {
    const port = new URL(proxy.url).port;
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
    if (await ipv6Loopback()) assert.equal((await fetch(`http://[::1]:${port}/health`)).status, 200);
  });

  it('UI_ADDR=:<port> serves /costs/api; CLAW_POD names the pod', async () => {
    const costs = await fetch(`http://127.0.0.1:${uiPort}/costs/api`);
    assert.equal(costs.status, 200);
    assert.equal(((await costs.json()) as { total_requests: number }).total_requests, 0);
    const summary = (await (await fetch(`http://127.0.0.1:${uiPort}/api/summary`)).json()) as { pod: string };
    assert.equal(summary.pod, 'pod-x');
  });

  it('v2: the active key first, dead keys skipped, provider names case-insensitive, the env key ignored for a provider the file names', async () => {
    const seen = await seenUpstream({ proxy, fake, body: { model: 'openai/gpt-4o' } });
    assert.equal(seen.headers.authorization, 'Bearer sk-active');
    assert.equal(seen.path, '/v1/chat/completions');
  });

  it('v2: a key whose cooldown has passed is usable; anthropic defaults to x-api-key', async () => {
    const seen = await seenUpstream({ proxy, fake, path: '/v1/messages', body: { model: 'claude-sonnet-4-20250514' } });
    assert.equal(seen.headers['x-api-key'], 'sk-ant-file');
    assert.equal(seen.headers.authorization, undefined);
  });

  it('env providers the file does not name: XAI_API_KEY_1 alone, GEMINI_API_KEY before GOOGLE_API_KEY, AI_GATEWAY_API_KEY before _2, base URL variables', async () => {
    assert.equal((await seenUpstream({ proxy, fake, body: { model: 'xai/grok-4' } })).headers.authorization, 'Bearer sk-xai-backup');
    const google = await seenUpstream({ proxy, fake, body: { model: 'google/gemini-2.5-flash' } });
    assert.equal(google.headers.authorization, 'Bearer sk-gemini');
    assert.equal(google.path, '/v1/chat/completions', 'a trailing slash on the base URL is dropped');
    const vercel = await seenUpstream({ proxy, fake, body: { model: 'vercel/anthropic/claude-sonnet-4.6' } });
    assert.equal(vercel.headers.authorization, 'Bearer sk-vercel');
    assert.equal(vercel.body.model, 'anthropic/claude-sonnet-4.6');
  });

  it('OLLAMA_BASE_URL: ollama answers with no key and no Authorization (cllama cannot select a keyless provider; tollgate can, docs/config.md)', async () => {
    const seen = await seenUpstream({ proxy, fake, body: { model: 'ollama/llama3' } });
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.body.model, 'llama3');
  });

  it('CLAW_SESSION_HISTORY_DIR: history goes to <dir>/<agent>/history.jsonl', async () => {
    const file = join(root, 'sessions', 'a', 'history.jsonl');
    await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').includes('ollama'), 'history in CLAW_SESSION_HISTORY_DIR');
  });
});

describe('environment contract: providers.json v1 and key variable precedence', () => {
  let fake: FakeUpstream;
  let root: string;
  let proxy: RunningProxy;
  before(async () => {
    fake = await startFakeUpstream();
    const base = `${fake.url}/v1`;
    root = writeRoot({ providers: { anthropic: { base_url: base, api_key: 'sk-ant-v1' }, xai: { base_url: base, api_key: 'sk-xai-v1', auth: 'x-api-key' } } });
    proxy = await startProxyProcess({
      port: await freePort(),
      env: {
        ...dirsOf(root),
        OPENAI_API_KEY: 'sk-openai-primary',
        OPENAI_API_KEY_1: 'sk-openai-backup',
        OPENAI_BASE_URL: base,
        OPENROUTER_API_KEY_1: 'sk-openrouter-backup',
        OPENROUTER_BASE_URL: base,
        XAI_API_KEY: 'sk-xai-env-not-used',
      },
    });
  });
  after(async () => {
    await proxy?.stop();
    await fake?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("v1: api_key per provider, anthropic's default auth x-api-key, an explicit auth scheme kept, the env key ignored", async () => {
    const messages = await seenUpstream({ proxy, fake, path: '/v1/messages', body: { model: 'claude-sonnet-4-20250514' } });
    assert.equal(messages.headers['x-api-key'], 'sk-ant-v1');
    const xai = await seenUpstream({ proxy, fake, body: { model: 'xai/grok-4' } });
    assert.equal(xai.headers['x-api-key'], 'sk-xai-v1');
    assert.equal(xai.headers.authorization, undefined);
  });

  it('OPENAI_API_KEY before OPENAI_API_KEY_1; OPENROUTER_API_KEY_1 alone serves the OpenRouter fallback', async () => {
    assert.equal((await seenUpstream({ proxy, fake, body: { model: 'openai/gpt-4o' } })).headers.authorization, 'Bearer sk-openai-primary');
    const fallback = await seenUpstream({ proxy, fake, body: { model: 'meta-llama/llama-3-70b' } });
    assert.equal(fallback.headers.authorization, 'Bearer sk-openrouter-backup');
    assert.equal(fallback.body.model, 'meta-llama/llama-3-70b');
  });
});
