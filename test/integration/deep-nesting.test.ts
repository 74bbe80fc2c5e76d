// Bodies nested deeper than TOLLGATE_MAX_JSON_DEPTH are refused at the door in the caller's format, and no history
// line, whether written by tollgate from a hostile upstream's answer or already on disk, makes a history reader fail.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

/** `{"model":..,"messages":[..],"metadata":<arrays>}` whose deepest value sits at `depth` levels (the body is 1). */
function bodyOfDepth(model: string, depth: number): string {
  const inner = depth - 1;
  return `{"model":"${model}","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"metadata":${'['.repeat(inner)}${']'.repeat(inner)}}`;
}

/** A JSON value `depth` levels deep. */
function nested(depth: number): string {
  return `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
}

async function post(h: Harness, path: string, body: string): Promise<{ status: number; json: Record<string, any> }> {
  const response = await fetch(`${h.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json' },
    body,
  });
  return { status: response.status, json: (await response.json()) as Record<string, any> };
}

async function ownHistory(h: Harness): Promise<{ status: number; skipped: string | null; lines: string[] }> {
  const response = await fetch(`${h.url}/history`, { headers: { authorization: `Bearer ${h.token('a')}` } });
  const text = await response.text();
  return { status: response.status, skipped: response.headers.get('x-tollgate-history-skipped-lines'), lines: text.split('\n').filter(Boolean) };
}

describe('nesting bounded at the door', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: {} } });
  });
  after(() => h.close());

  it('a body at the default bound (64) passes; one level deeper is 400 body_too_deep in the OpenAI envelope', async () => {
    assert.equal((await post(h, '/v1/chat/completions', bodyOfDepth('openai/gpt-4o', 64))).status, 200);
    const refused = await post(h, '/v1/chat/completions', bodyOfDepth('openai/gpt-4o', 65));
    assert.equal(refused.status, 400);
    assert.equal(refused.json.error.code, 'body_too_deep');
    assert.equal(refused.json.error.type, 'invalid_request_error');
  });

  it('the Anthropic route refuses in its own envelope', async () => {
    const refused = await post(h, '/v1/messages', bodyOfDepth('anthropic/claude-sonnet-4-20250514', 65));
    assert.equal(refused.status, 400);
    assert.equal(refused.json.type, 'error');
    assert.equal(refused.json.error.type, 'invalid_request_error');
    assert.equal(refused.json.error.code, 'body_too_deep');
  });

  it('4,110 and 5,000 levels get 400 and history stays readable', async () => {
    const forwarded = h.fake.requests.length;
    for (const depth of [4_110, 5_000]) {
      const refused = await post(h, '/v1/chat/completions', bodyOfDepth('openai/gpt-4o', depth));
      assert.equal(refused.status, 400);
      assert.equal(refused.json.error.code, 'body_too_deep');
    }
    assert.equal(h.fake.requests.length, forwarded, 'nothing deep went upstream');
    const history = await ownHistory(h);
    assert.equal(history.status, 200);
  });

  it('a hostile upstream answer nested 1,500 deep is relayed but recorded as text, so its history line stays shallow', async () => {
    const answer = `{"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1},"deep":${nested(1_500)}}`;
    const before = h.historyLines('a').length;
    const response = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json', 'x-fake-behavior': JSON.stringify({ rawBody: answer }) },
      body: bodyOfDepth('openai/gpt-4o', 3),
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), answer);
    await waitFor(() => h.historyLines('a').length > before);
    const entry = h.historyLines('a').at(-1) as { response: { json: unknown } };
    assert.equal(entry.response.json, answer, 'the answer is kept, as a string');
    const history = await ownHistory(h);
    assert.equal(history.status, 200);
    assert.equal(history.skipped, null);
  });
});

describe('history readers survive any line already on disk', () => {
  let h: Harness;
  const good = (second: number) => ({
    version: 1,
    id: `hist1_${second}`,
    ts: `2026-01-01T00:00:0${second}Z`,
    claw_id: 'a',
    path: '/v1/chat/completions',
    requested_model: 'openai/gpt-4o',
    effective_provider: 'openai',
    effective_model: 'gpt-4o',
    status_code: 200,
    stream: false,
    response: { format: 'json', json: {} },
    usage: { prompt_tokens: 1, completion_tokens: 1, reported_cost_usd: 0.001 },
  });
  const deepLine = `{"version":1,"id":"hist1_deep","ts":"2026-01-01T00:00:02Z","claw_id":"a","path":"/v1/chat/completions","requested_model":"openai/gpt-4o","effective_provider":"openai","effective_model":"gpt-4o","status_code":200,"stream":false,"request_original":{"metadata":${'['.repeat(4_110)}${']'.repeat(4_110)}},"response":{"format":"json","json":{}},"usage":{}}`;

  before(async () => {
    h = await startHarness({ agents: { a: {} }, seedHistory: { a: [good(1), deepLine, good(3)] } });
  });
  after(() => h.close());

  it('GET /history answers 200 with the readable entries and says one line was skipped', async () => {
    const history = await ownHistory(h);
    assert.equal(history.status, 200);
    assert.deepEqual(
      history.lines.map((line) => JSON.parse(line).id),
      ['hist1_1', 'hist1_3'],
    );
    assert.equal(history.skipped, '1');
  });

  it('the admin history pages (oldest and newest first, full bodies) answer 200 and count the skipped line', async () => {
    for (const query of ['full=1', 'full=1&after=2025-01-01T00:00:00Z']) {
      const response = await fetch(`${h.tollgate.uiUrl}/api/agents/a/history?${query}`);
      assert.equal(response.status, 200, query);
      const page = (await response.json()) as { entries: { id: string }[]; skipped: { lines: number } };
      assert.equal(page.entries.length, 2, query);
      assert.equal(page.skipped.lines, 1, query);
    }
  });

  it('the deep line survives a restart as a skipped line, never a 500', async () => {
    h = await h.restart();
    const history = await ownHistory(h);
    assert.equal(history.status, 200);
    assert.equal(history.lines.length, 2);
  });
});
