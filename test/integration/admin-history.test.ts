// The history API on the proxy port (cllama contract, cases 40-44): who may read whose history, paging, statuses.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentRegistry } from '../../src/auth/registry.ts';
import { historyRoutes } from '../../src/api/history-routes.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { startUi, type UiFixture } from '../helpers/ui-server.ts';

const ADMIN = 'ui-secret';

function seed(h: Harness, agent: string, lines: Record<string, unknown>[]): void {
  const dir = join(h.root, 'history', agent);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'history.jsonl'), lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
}

function entry(agent: string, ts: string, cost: number): Record<string, unknown> {
  return { version: 1, ts, claw_id: agent, path: '/v1/chat/completions', response: { format: 'json', json: {} }, usage: { reported_cost_usd: cost } };
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(url, { headers });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

describe('history API on the proxy port', () => {
  let h: Harness | undefined;
  let ui: UiFixture | undefined;
  afterEach(async () => {
    await ui?.close();
    await h?.close();
    ui = undefined;
    h = undefined;
  });
  after(async () => {
    await ui?.close();
    await h?.close();
  });

  async function open() {
    h = await startHarness({ agents: { a: { token: 'a:s' }, b: { token: 'b:t' } }, env: { CLLAMA_UI_TOKEN: ADMIN } });
    seed(h, 'a', [entry('a', '2026-02-01T12:00:00Z', 0.25), entry('a', '2026-02-01T12:01:00Z', 0.5)]);
    seed(h, 'b', [entry('b', '2026-02-01T12:00:00Z', 1)]);
    const serviceAuth = join(h.root, 'context', 'a', 'service-auth');
    mkdirSync(serviceAuth, { recursive: true });
    writeFileSync(join(serviceAuth, 'history.json'), JSON.stringify({ service: 'cllama-history', auth_type: 'bearer', token: 'history-token' }));
    writeFileSync(join(serviceAuth, 'other.json'), JSON.stringify({ service: 'something-else', auth_type: 'bearer', token: 'other-token' }));
    await (h.tollgate.deps.agents as AgentRegistry).reload();
    ui = await startUi(h);
    return { h, ui, base: ui.apiUrl };
  }

  it('GET /history/{id} accepts the replay token, the agent token and the admin token; refuses others (cases 40, 41, 43)', async () => {
    const { base } = await open();
    const replay = await get(`${base}/history/a?limit=1`, { authorization: 'Bearer history-token' });
    assert.equal(replay.status, 200);
    assert.equal(replay.type, 'application/x-ndjson');
    const lines = replay.text.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(JSON.parse(lines[0]).id, /^hist1_[0-9a-f]{64}$/);
    assert.equal((await get(`${base}/history/a`, { authorization: 'Bearer other-token' })).status, 403);

    const afterFirst = await get(`${base}/history/a?after=2026-02-01T12:00:00Z`, { authorization: 'Bearer a:s' });
    assert.equal(afterFirst.status, 200);
    assert.deepEqual(
      afterFirst.text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).ts),
      ['2026-02-01T12:01:00Z'],
    );

    assert.equal((await get(`${base}/history/a`, { authorization: `Bearer ${ADMIN}` })).text.trim().split('\n').length, 2);
    assert.equal((await get(`${base}/history/a`, { 'x-api-key': ADMIN })).status, 200, 'raw x-api-key works too');
    const wrong = await get(`${base}/history/a`, { authorization: 'Bearer wrong-token' });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.text, 'forbidden\n');
    assert.match(wrong.type ?? '', /^text\/plain/);
  });

  it("an agent can never read another agent's history", async () => {
    const { base } = await open();
    const other = await get(`${base}/history/a`, { authorization: 'Bearer b:t' });
    assert.equal(other.status, 403);
    assert.equal(other.text, 'forbidden\n');
    assert.equal((await get(`${base}/history/b`, { authorization: 'Bearer history-token' })).status, 403, 'a replay token is bound to its agent');
    assert.equal((await get(`${base}/history/a`, { authorization: 'Bearer a:wrong' })).status, 403);
    const self = await get(`${base}/history`, { authorization: 'Bearer b:t' });
    assert.equal(self.status, 200);
    assert.deepEqual(
      self.text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).claw_id),
      ['b'],
      "GET /history is always the caller's own",
    );
  });

  it("GET /history answers the caller only, with cllama's statuses (case 42)", async () => {
    const { base } = await open();
    const own = await get(`${base}/history`, { authorization: 'Bearer a:s' });
    assert.equal(own.status, 200);
    assert.equal(own.text.trim().split('\n').length, 2);
    assert.equal((await get(`${base}/history`, { 'x-api-key': 'a:s' })).status, 200);
    const unknown = await get(`${base}/history`, { authorization: 'Bearer wrong:secret' });
    assert.equal(unknown.status, 403);
    assert.equal(unknown.text, 'agent context not found\n');
    assert.equal((await get(`${base}/history`, { authorization: 'Bearer a:nope' })).text, 'invalid agent secret\n');
    assert.equal((await get(`${base}/history`, { authorization: 'Bearer history-token' })).status, 401);
    assert.equal((await get(`${base}/history`, { authorization: `Bearer ${ADMIN}` })).status, 401);
    const none = await get(`${base}/history`);
    assert.equal(none.status, 401);
    assert.equal(none.text, 'invalid bearer token\n');
  });

  it("checks ids, tokens and query parameters in cllama's order, except that an unknown id is told only to the admin (case 44)", async () => {
    const { base } = await open();
    const unknown = await get(`${base}/history/nobody`);
    assert.equal(unknown.status, 401, 'no token: the same answer as for a known agent (cllama: 404 before auth)');
    assert.equal(unknown.text, 'missing bearer token\n');
    const unknownAsAdmin = await get(`${base}/history/nobody`, { authorization: `Bearer ${ADMIN}` });
    assert.equal(unknownAsAdmin.status, 404);
    assert.equal(unknownAsAdmin.text, 'agent context not found\n');
    assert.equal((await get(`${base}/history/..%2F..%2Fetc`, { authorization: `Bearer ${ADMIN}` })).status, 400);
    assert.equal((await get(`${base}/history/.hidden`, { authorization: `Bearer ${ADMIN}` })).status, 400);
    const missing = await get(`${base}/history/a`);
    assert.equal(missing.status, 401);
    assert.equal(missing.text, 'missing bearer token\n');
    const auth = { authorization: 'Bearer a:s' };
    assert.deepEqual(await get(`${base}/history?after=yesterday`, auth), { status: 400, type: 'text/plain; charset=utf-8', text: 'after must be RFC3339\n' });
    assert.equal((await get(`${base}/history?limit=0`, auth)).text, 'limit must be > 0\n');
    assert.equal((await get(`${base}/history?limit=-2`, auth)).text, 'limit must be > 0\n');
    assert.equal((await get(`${base}/history?limit=ten`, auth)).text, 'limit must be an integer\n');
    assert.equal((await get(`${base}/history/a?limit=5000`, auth)).status, 200, 'above 1000 is clamped');
    const post = await fetch(`${base}/history`, { method: 'POST', headers: auth });
    assert.equal(post.status, 405);
  });

  it('answers 404 history not configured when history is off', async () => {
    h = await startHarness({ agents: { a: { token: 'a:s' } } });
    const route = historyRoutes({ agents: h.tollgate.deps.agents, historyDir: null, uiToken: null });
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => void route(req, res, new URL(req.url!, 'http://x').pathname));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const off = await get(`http://127.0.0.1:${port}/history`, { authorization: 'Bearer a:s' });
    assert.deepEqual([off.status, off.text], [404, 'history not configured\n']);
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads tollgate-written history across rotation, oldest first', async () => {
    h = await startHarness({ agents: { a: { token: 'a:s' } }, env: { CLLAMA_SESSION_HISTORY_MAX_BYTES: '100' } });
    ui = await startUi(h);
    for (const tokens of [5, 6]) {
      const response: Response = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer a:s', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: tokens }),
      });
      assert.equal(response.status, 200);
      await response.text();
    }
    await waitFor(async () => (await get(`${ui!.apiUrl}/history`, { authorization: 'Bearer a:s' })).text.trim().split('\n').length === 2);
    const both = await get(`${ui.apiUrl}/history`, { authorization: 'Bearer a:s' });
    assert.deepEqual(
      both.text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).usage.completion_tokens),
      [5, 6],
    );
    assert.ok(existsSync(join(h.root, 'history', 'a', 'history.jsonl.1')), 'the first entry was rotated out of the current file');
  });
});

async function waitFor(check: () => Promise<boolean>, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail('condition not reached');
}
