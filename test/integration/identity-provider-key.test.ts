// The provider key never leaves tollgate: masked in what an upstream sends back (bodies, headers, redirects), in no log, event, history or metric.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProxyProcess, type RunningProxy } from '../helpers/process.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';
import { call, CHAT, errorCode, MESSAGES, SEED } from './identity-setup.ts';

describe(`identity: the provider key never leaves tollgate (seed ${SEED})`, () => {
  const KEY = 'zq7-provider-key-material-0123456789'; // not shaped like a known key: only tollgate's own masking can hide it
  let upstream: Server;
  let proxy: RunningProxy;
  let root: string;
  let uiPort: number;
  let mode = '';

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const json = (status: number, body: unknown, headers: Record<string, string | string[]> = {}) => {
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(JSON.stringify(body));
        };
        switch (mode) {
          case 'json-error':
            return json(401, { error: { message: `Incorrect API key provided: ${KEY}`, type: 'invalid_request_error', code: 'invalid_api_key' } });
          case 'text-error':
            res.writeHead(403, { 'content-type': 'text/plain' });
            return res.end(`forbidden: ${KEY}`);
          case 'www-authenticate':
            return json(401, { error: { message: 'no' } }, { 'www-authenticate': `Bearer realm="api", error="invalid_token", token="${KEY}"` });
          case 'echo-headers':
            return json(429, { error: { message: 'slow down' } }, { 'x-debug-key': KEY, 'set-cookie': [`a=${KEY}`, 'b=1'] });
          case 'redirect-path':
            res.writeHead(307, { location: `https://elsewhere.example/${KEY}/v1/chat/completions` });
            return res.end('moved');
          case 'redirect-host':
            res.writeHead(302, { location: `https://${KEY.toUpperCase()}.example/v1` });
            return res.end('moved');
          case 'redirect-credentials':
            res.writeHead(301, { location: `https://user:${KEY}@elsewhere.example/v1` });
            return res.end('moved');
          case 'redirect-query':
            res.writeHead(308, { location: `/v1/chat/completions?key=${KEY}` });
            return res.end('moved');
          default:
            return json(500, { error: { message: `unknown mode ${mode}` } });
        }
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    root = mkdtempSync(join(tmpdir(), 'tollgate-keys-'));
    for (const dir of ['context/a', 'auth', 'history']) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'context', 'a', 'metadata.json'), JSON.stringify({ token: 'a:s' }));
    writeFileSync(
      join(root, 'auth', 'providers.json'),
      JSON.stringify({
        version: 2,
        providers: {
          openai: { base_url: `${upstreamUrl}/v1`, keys: [{ id: 'k1', secret: KEY }] },
          anthropic: { base_url: `${upstreamUrl}/v1`, auth: 'x-api-key', keys: [{ id: 'k2', secret: KEY }] },
        },
      }),
    );
    uiPort = await freePort();
    proxy = await startProxyProcess({
      port: await freePort(),
      env: {
        CLAW_CONTEXT_ROOT: join(root, 'context'),
        CLAW_AUTH_DIR: join(root, 'auth'),
        CLAW_SESSION_HISTORY_DIR: join(root, 'history'),
        UI_ADDR: `127.0.0.1:${uiPort}`,
      },
    });
  });
  after(async () => {
    await proxy?.stop();
    upstream?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("masks it in what an upstream sends back: bodies read whole, headers, a redirect's target; and it is in no log, event, history or metric", async () => {
    const random = seededRandom(SEED + 31);
    const plan = (modes: string[]) =>
      modes.flatMap((m) => [CHAT, MESSAGES].map((path) => ({ mode: m, path, stream: random() < 0.5 }))).sort(() => random() - 0.5); // redirects first: a 401/403/429 takes the only key out (docs/providers.md)
    const calls = [
      ...plan(['redirect-path', 'redirect-host', 'redirect-credentials', 'redirect-query']),
      ...plan(['json-error', 'text-error', 'www-authenticate', 'echo-headers']),
    ];
    for (const planned of calls) {
      mode = planned.mode;
      const body = JSON.stringify({
        model: planned.path === CHAT ? 'openai/gpt-4o' : 'claude-x',
        max_tokens: 5,
        stream: planned.stream,
        messages: [{ role: 'user', content: 'hi' }],
      });
      const answer = await call({ url: proxy.url, path: planned.path, headers: { authorization: 'Bearer a:s' }, body });
      const label = `${planned.mode} on ${planned.path}${planned.stream ? ' (stream)' : ''}`;
      assert.ok(answer.status >= 300 && answer.status < 600, label);
      assert.ok(!answer.text.toLowerCase().includes(KEY.toLowerCase()), `${label}: the key in the body: ${answer.text}`);
      assert.ok(!JSON.stringify(answer.headers).toLowerCase().includes(KEY.toLowerCase()), `${label}: the key in a header: ${JSON.stringify(answer.headers)}`);
      if (planned.mode.startsWith('redirect')) assert.equal(errorCode(answer, planned.path), 'upstream_redirect', label);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${uiPort}/metrics`)).text();
    const historyFile = join(root, 'history', 'a', 'history.jsonl');
    await waitFor(
      () =>
        proxy
          .stdout()
          .split('\n')
          .filter((line) => line.includes('"type":"error"') || line.includes('"type":"response"')).length >= calls.length,
      'an audit line per call',
    );
    const outputs = { audit: proxy.stdout(), log: proxy.stderr(), metrics, history: existsSync(historyFile) ? readFileSync(historyFile, 'utf8') : '' };
    for (const [name, text] of Object.entries(outputs)) assert.ok(!text.toLowerCase().includes(KEY.toLowerCase()), `the key in the ${name}`);
  });
});
