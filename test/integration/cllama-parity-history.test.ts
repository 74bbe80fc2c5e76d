// Parity with cllama's behaviours 35-46 (cllama-spec.md §12): session history entries, rotation, the /history API and the UI token.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { AgentRegistry } from '../../src/auth/registry.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

const chatBody = (extra: Record<string, unknown> = {}) => ({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...extra });
const seeded = (ts: string) => ({
  version: 1,
  ts,
  claw_id: 'a',
  path: '/v1/chat/completions',
  requested_model: 'openai/gpt-4o',
  response: { format: 'json', json: {} },
  usage: {},
});

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(url, { headers });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('cllama parity 35-38: what a relayed call leaves in session history', () => {
  let h: Harness;
  let client: OpenAI;
  before(async () => {
    h = await startHarness({ agents: { a: { token: 'a:s' }, b: { token: 'b:s' } } });
    client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'a:s', maxRetries: 0 });
  });
  after(() => h.close());
  const entryFor = async (content: string) => {
    await waitFor(() => h.historyText('a').includes(content), `history of "${content}"`);
    return h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes(content))!;
  };

  it('35 a 2xx JSON answer: one line with claw_id, requested_model, an id hist1_<sha256>, response.format json and a ts', async () => {
    await client.chat.completions.create(chatBody({ messages: [{ role: 'user', content: 'case 35' }] }) as never);
    const entry = await entryFor('case 35');
    assert.equal(entry.version, 1);
    assert.equal(entry.claw_id, 'a');
    assert.equal(entry.requested_model, 'openai/gpt-4o');
    assert.match(String(entry.id), /^hist1_[0-9a-f]{64}$/);
    assert.equal((entry.response as { format: string }).format, 'json');
    assert.ok(!Number.isNaN(Date.parse(String(entry.ts))), 'an RFC 3339 ts (tollgate adds milliseconds, docs/history.md)');
    assert.deepEqual(
      Object.keys(entry).slice(0, 10),
      ['version', 'id', 'ts', 'claw_id', 'path', 'requested_model', 'effective_provider', 'effective_model', 'status_code', 'stream'],
      'cllama field order',
    );
  });

  it('36 an SSE answer: response.format sse, a non-empty response.text, stream true', async () => {
    const stream = (await client.chat.completions.create(
      chatBody({ stream: true, messages: [{ role: 'user', content: 'case 36' }] }) as never,
    )) as unknown as AsyncIterable<unknown>;
    for await (const _ of stream) void _;
    const entry = await entryFor('case 36');
    const response = entry.response as { format: string; text: string };
    assert.equal(response.format, 'sse');
    assert.ok(response.text.length > 0);
    assert.equal(entry.stream, true);
  });

  it('37 upstream 500 (no usage): no entry', async () => {
    h.fake.behavior = { status: 500 };
    try {
      await assert.rejects(new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'b:s', maxRetries: 0 }).chat.completions.create(chatBody() as never));
    } finally {
      h.fake.behavior = {};
    }
    await waitFor(() => h.tollgate.deps.history.pendingEntries === 0);
    assert.equal(existsSync(join(h.root, 'history', 'b', 'history.jsonl')), false);
  });

  it('38 gpt-4o with usage 100/50: usage.reported_cost_usd is the computed 0.00075', async () => {
    const headers = { 'x-fake-behavior': JSON.stringify({ usage: { input: 100, output: 50 } }) };
    await client.chat.completions.create(chatBody({ messages: [{ role: 'user', content: 'case 38' }] }) as never, { headers });
    const entry = await entryFor('case 38');
    assert.equal((entry.usage as { reported_cost_usd: number }).reported_cost_usd, 0.00075);
  });
});

describe('cllama parity 39: rotation at CLLAMA_SESSION_HISTORY_MAX_BYTES', () => {
  it('39 a cap smaller than one line: the second call rotates the first into history.jsonl.1; GET /history returns both, oldest first', async () => {
    const h = await startHarness({ agents: { a: { token: 'a:s' } }, env: { CLLAMA_SESSION_HISTORY_MAX_BYTES: '100' } });
    try {
      const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'a:s', maxRetries: 0 });
      await client.chat.completions.create(chatBody({ messages: [{ role: 'user', content: 'first call' }] }) as never);
      await waitFor(() => h.historyText('a').includes('first call'));
      await client.chat.completions.create(chatBody({ messages: [{ role: 'user', content: 'second call' }] }) as never);
      await waitFor(() => h.historyText('a').includes('second call'));
      const rotated = readFileSync(join(h.root, 'history', 'a', 'history.jsonl.1'), 'utf8');
      assert.ok(rotated.includes('first call') && !rotated.includes('second call'));
      assert.ok(!h.historyText('a').includes('first call'));
      const page = await get(`${h.url}/history`, { authorization: 'Bearer a:s' });
      assert.deepEqual(
        lines(page.text).map((entry) => JSON.stringify(entry.request_original).includes('first call')),
        [true, false],
      );
    } finally {
      await h.close();
    }
  });
});

describe('cllama parity 40-46: the history API and the UI token', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: { a: { token: 'a:s' } },
      env: { CLLAMA_UI_TOKEN: 'ui-secret' },
      seedHistory: { a: [seeded('2026-03-01T12:00:00Z'), seeded('2026-03-01T12:01:00Z')] },
    });
    const serviceAuth = join(h.root, 'context', 'a', 'service-auth');
    mkdirSync(serviceAuth);
    writeFileSync(
      join(serviceAuth, 'history.json'),
      JSON.stringify({ service: 'cllama-history', auth_type: 'bearer', token: 'history-token', principal: 'replayer' }),
    );
    writeFileSync(join(serviceAuth, 'other.json'), JSON.stringify({ service: 'other-service', auth_type: 'bearer', token: 'other-token' }));
    await (h.tollgate.deps.agents as AgentRegistry).reload();
  });
  after(() => h.close());

  it("40 the cllama-history replay token: GET /history/a?limit=1 is 200 application/x-ndjson, one line with an id; another service's token 403", async () => {
    const page = await get(`${h.url}/history/a?limit=1`, { authorization: 'Bearer history-token' });
    assert.equal(page.status, 200);
    assert.equal(page.type, 'application/x-ndjson');
    const entries = lines(page.text);
    assert.equal(entries.length, 1);
    assert.match(String(entries[0].id), /^hist1_[0-9a-f]{64}$/, 'a seeded line without an id gets one, as cllama hydrates it');
    assert.equal((await get(`${h.url}/history/a?limit=1`, { authorization: 'Bearer other-token' })).status, 403);
  });

  it("41 after=2026-03-01T12:00:00Z with the agent's full token: only the 12:01 entry", async () => {
    const page = await get(`${h.url}/history/a?after=2026-03-01T12:00:00Z`, { authorization: 'Bearer a:s' });
    assert.equal(page.status, 200);
    assert.deepEqual(
      lines(page.text).map((entry) => entry.ts),
      ['2026-03-01T12:01:00Z'],
    );
  });

  it('42 GET /history: a:s 200 with both lines; wrong:secret 403; the replay or admin token 401; no auth 401', async () => {
    const own = await get(`${h.url}/history`, { authorization: 'Bearer a:s' });
    assert.equal(own.status, 200);
    assert.equal(lines(own.text).length, 2);
    assert.equal((await get(`${h.url}/history`, { authorization: 'Bearer wrong:secret' })).status, 403);
    for (const token of ['history-token', 'ui-secret']) {
      const refused = await get(`${h.url}/history`, { authorization: `Bearer ${token}` });
      assert.deepEqual([refused.status, refused.text], [401, 'invalid bearer token\n'], token);
    }
    assert.equal((await get(`${h.url}/history`)).status, 401);
  });

  it('43 CLLAMA_UI_TOKEN as the admin token: GET /history/a 200; a wrong token 403', async () => {
    assert.equal((await get(`${h.url}/history/a`, { authorization: 'Bearer ui-secret' })).status, 200);
    const wrong = await get(`${h.url}/history/a`, { authorization: 'Bearer wrong-token' });
    assert.deepEqual([wrong.status, wrong.text], [403, 'forbidden\n']);
  });

  it('44 after=yesterday: 400 "after must be RFC3339"; limit=0: 400 (history cannot be disabled in tollgate, docs/config.md)', async () => {
    const after = await get(`${h.url}/history?after=yesterday`, { authorization: 'Bearer a:s' });
    assert.deepEqual([after.status, after.text], [400, 'after must be RFC3339\n']);
    const limit = await get(`${h.url}/history?limit=0`, { authorization: 'Bearer a:s' });
    assert.deepEqual([limit.status, limit.text], [400, 'limit must be > 0\n']);
  });

  it('45 with CLLAMA_UI_TOKEN a wrong bearer on / is 401 and /costs/api needs the token; unset, it is open (the page shell is open, deliberately)', async () => {
    const ui = h.tollgate.uiUrl;
    assert.equal((await get(`${ui}/`, { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await get(`${ui}/costs/api`)).status, 401);
    assert.equal((await get(`${ui}/costs/api`, { authorization: 'Bearer wrong' })).text, 'unauthorized\n');
    assert.equal((await get(`${ui}/costs/api`, { authorization: 'Bearer ui-secret' })).status, 200);
    const open = await startHarness({ agents: { a: { token: 'a:s' } } });
    try {
      assert.equal((await get(`${open.tollgate.uiUrl}/costs/api`)).status, 200, 'CLLAMA_UI_TOKEN unset: no auth needed');
    } finally {
      await open.close();
    }
  });

  it('46 the UI: GET /missing is 404 (the /internal/context snapshots are out of scope)', async () => {
    assert.equal((await get(`${h.tollgate.uiUrl}/missing`, { authorization: 'Bearer ui-secret' })).status, 404);
  });
});
