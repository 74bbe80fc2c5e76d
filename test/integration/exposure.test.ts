// What a network neighbour learns or reaches: agent ids through GET /history/{id}, the token-less UI from another
// address or through DNS rebinding, and the files tollgate writes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

/** One GET with exactly these headers (Host included), from a chosen local address. */
function get(input: { host: string; port: number; path: string; headers?: Record<string, string>; from?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: input.host, port: input.port, path: input.path, headers: input.headers, localAddress: input.from }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An address of this machine that is not loopback: the test's stand-in for a network neighbour. */
function neighbourAddress(): string {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (!entry.internal && entry.family === 'IPv4') return entry.address;
  }
  return assert.fail('this machine has no non-loopback IPv4 address to play the network neighbour from');
}

const portOf = (url: string): number => Number(new URL(url).port);

describe('GET /history/{id} does not tell known agent ids from unknown ones', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: {}, b: {} }, env: { CLLAMA_UI_TOKEN: 'ui-admin-token' } });
  });
  after(() => h.close());

  it("the same status and body for a known and an unknown id, with no, a wrong, or another agent's token", async () => {
    const port = portOf(h.url);
    for (const authorization of [undefined, 'Bearer junk', `Bearer ${h.token('b')}`, 'Bearer a:wrong-secret', 'Bearer nobody:wrong-secret']) {
      const headers = authorization ? { authorization } : undefined;
      const known = await get({ host: '127.0.0.1', port, path: '/history/a', headers });
      const unknown = await get({ host: '127.0.0.1', port, path: '/history/nobody', headers });
      assert.deepEqual(unknown, known, `with ${authorization ?? 'no token'}`);
      assert.ok(known.status === 401 || known.status === 403, `with ${authorization ?? 'no token'}: ${known.status}`);
    }
    // only the admin token learns that an id is unknown; an agent still reads its own
    assert.equal((await get({ host: '127.0.0.1', port, path: '/history/nobody', headers: { authorization: 'Bearer ui-admin-token' } })).status, 404);
    assert.equal((await get({ host: '127.0.0.1', port, path: '/history/a', headers: { authorization: 'Bearer ui-admin-token' } })).status, 200);
    assert.equal((await get({ host: '127.0.0.1', port, path: '/history/a', headers: { authorization: `Bearer ${h.token('a')}` } })).status, 200);
  });
});

describe('without CLLAMA_UI_TOKEN the UI answers loopback callers only, under names that cannot be rebound', () => {
  let h: Harness;
  let port: number;
  const neighbour = neighbourAddress();
  before(async () => {
    h = await startHarness({ agents: { a: {} }, env: { UI_ADDR: '0.0.0.0:0' } });
    port = portOf(h.tollgate.uiUrl);
  });
  after(() => h.close());

  it('a caller from another address gets 403 on every page, the API in JSON', async () => {
    const api = await get({ host: neighbour, port, path: '/api/agents', from: neighbour });
    assert.equal(api.status, 403);
    assert.equal(JSON.parse(api.body).error.code, 'forbidden');
    assert.match(JSON.parse(api.body).error.message, /loopback callers only: set CLLAMA_UI_TOKEN/);
    for (const path of ['/', '/costs/api', '/metrics', '/api/events']) {
      assert.equal((await get({ host: neighbour, port, path, from: neighbour })).status, 403, path);
    }
  });

  it('loopback callers are answered under an IP literal or localhost, refused under another name (DNS rebinding)', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      assert.equal((await get({ host: '127.0.0.1', port, path: '/api/agents', headers: { host } })).status, 200, host);
    }
    for (const host of [`attacker.example:${port}`, 'attacker.example', `localhost.attacker.example:${port}`]) {
      const refused = await get({ host: '127.0.0.1', port, path: '/costs/api', headers: { host } });
      assert.equal(refused.status, 403, host);
      assert.match(refused.body, /DNS rebinding/);
    }
  });
});

describe('TOLLGATE_UI_OPEN=1 serves the token-less UI to the network, still under known names only', () => {
  let h: Harness;
  let port: number;
  const neighbour = neighbourAddress();
  before(async () => {
    h = await startHarness({ agents: { a: {} }, env: { UI_ADDR: '0.0.0.0:0', TOLLGATE_UI_OPEN: '1', TOLLGATE_UI_HOSTS: 'tollgate.internal' } });
    port = portOf(h.tollgate.uiUrl);
  });
  after(() => h.close());

  it('answers another address under its IP or a listed name, refuses other names; with a token, the token decides', async () => {
    assert.equal((await get({ host: neighbour, port, path: '/api/agents', from: neighbour })).status, 200);
    assert.equal((await get({ host: neighbour, port, path: '/api/agents', from: neighbour, headers: { host: `tollgate.internal:${port}` } })).status, 200);
    assert.equal((await get({ host: neighbour, port, path: '/api/agents', from: neighbour, headers: { host: `attacker.example:${port}` } })).status, 403);
    // with CLLAMA_UI_TOKEN instead, the token is the guard: another address with it is answered, without it 401
    const guarded = await startHarness({ agents: { a: {} }, env: { UI_ADDR: '0.0.0.0:0', CLLAMA_UI_TOKEN: 'ui-admin-token' } });
    try {
      const guardedPort = portOf(guarded.tollgate.uiUrl);
      assert.equal(
        (await get({ host: neighbour, port: guardedPort, path: '/api/agents', from: neighbour, headers: { authorization: 'Bearer ui-admin-token' } })).status,
        200,
      );
      assert.equal((await get({ host: neighbour, port: guardedPort, path: '/api/agents', from: neighbour })).status, 401);
    } finally {
      await guarded.close();
    }
  });
});

describe("files that hold spend, locks and prompts are private to tollgate's user", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: {} } });
  });
  after(() => h.close());

  it('journal, lock and history files are 0600, the data dir 0700; an older 0644 journal is made 0600 at start', async () => {
    const post = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(post.status, 200);
    await waitFor(() => h.historyText('a') !== '', 'the history entry');
    const dataDir = h.tollgate.deps.config.dataDir;
    const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);
    assert.equal(mode(join(dataDir, 'journal.jsonl')), '600');
    assert.equal(mode(join(dataDir, 'tollgate.lock')), '600');
    assert.equal(mode(dataDir), '700');
    assert.equal(mode(join(h.tollgate.deps.config.historyDir, 'a', 'history.jsonl')), '600');
    chmodSync(join(dataDir, 'journal.jsonl'), 0o644);
    h = await h.restart();
    assert.equal(mode(join(dataDir, 'journal.jsonl')), '600');
  });
});
