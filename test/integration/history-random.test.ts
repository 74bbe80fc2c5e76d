// Session history under a hostile world, seeded: concurrent calls of several agents through the real proxy, paging
// the history API and the admin views at random sizes, random and malicious query strings and ids, odd files, rotation
// under load, and a clean shutdown. Invariants: one whole entry per completed call, nothing mixed, nothing lost to
// paging, no 5xx for bad input or bad files, every refusal a precise text/plain 4xx.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import type { HistoryWriter } from '../../src/history/writer.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { seededRandom } from '../helpers/random.ts';
import { startUi, type UiFixture } from '../helpers/ui-server.ts';

const SEED = 20260302;
const ADMIN = 'history-admin-token';
const AGENTS = ['alpha', 'beta', 'gamma'];

interface Call {
  readonly agent: string;
  readonly requestId: string;
  readonly wave: number;
}

type Random = () => number;
const pick = <T>(random: Random, values: readonly T[]): T => values[Math.floor(random() * values.length)];

/** `count` concurrent calls spread over the agents, each held upstream for a random time so they finish out of order. */
async function concurrentCalls(h: Harness, random: Random, options: { count: number; wave?: number; agents?: readonly string[] }): Promise<Call[]> {
  const agents = options.agents ?? AGENTS;
  const plans = Array.from({ length: options.count }, (_, i) => ({
    agent: pick(random, agents),
    delayMs: Math.floor(random() * 25),
    stream: random() < 0.3,
    i,
  }));
  return Promise.all(
    plans.map(async (plan) => {
      const response = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${h.token(plan.agent)}`,
          'content-type': 'application/json',
          'x-fake-behavior': JSON.stringify({ delayMs: plan.delayMs }),
        },
        body: JSON.stringify({
          model: 'openai/gpt-4o',
          stream: plan.stream,
          messages: [{ role: 'user', content: `wave ${options.wave ?? 0} call ${plan.i}` }],
        }),
      });
      await response.text();
      assert.equal(response.status, 200);
      return { agent: plan.agent, requestId: response.headers.get('x-tollgate-request-id') ?? '', wave: options.wave ?? 0 };
    }),
  );
}

/** Every line of a file whole JSON, of one agent. */
function fileEntries(path: string, agent: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), `${path} ends with a whole line`);
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      assert.equal(entry.claw_id, agent, `${path} holds only ${agent}'s entries`);
      assert.match(String(entry.id), /^hist1_[0-9a-f]{64}$/);
      return entry;
    });
}

function agentFiles(h: Harness, agent: string): Record<string, unknown>[] {
  const folder = join(h.root, 'history', agent);
  return [...fileEntries(join(folder, 'history.jsonl.1'), agent), ...fileEntries(join(folder, 'history.jsonl'), agent)];
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; text: string; headers: Headers }> {
  const response = await fetch(url, { headers });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text(), headers: response.headers };
}

/** A request with the path sent as written (fetch would normalise `%2e%2e` and friends away). */
function raw(
  base: string,
  options: { method: string; path: string; headers: Record<string, string> },
): Promise<{ status: number; type: string; text: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: options.method, path: options.path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const ndjson = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));

/** Pages the history API forward with `after=<last ts>` at random page sizes; every request id seen. */
async function pageApi(base: string, agent: string, token: string, random: Random): Promise<string[]> {
  const seen: string[] = [];
  let cursor = '';
  for (let pages = 0; pages < 500; pages++) {
    const limit = 1 + Math.floor(random() * 7);
    const answer = await get(`${base}/history/${agent}?limit=${limit}${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}`, {
      authorization: `Bearer ${token}`,
    });
    assert.equal(answer.status, 200, answer.text);
    const entries = ndjson(answer.text);
    if (entries.length === 0) return seen;
    const stamps = entries.map((entry) => Date.parse(String(entry.ts)));
    assert.deepEqual(
      stamps,
      [...stamps].sort((a, b) => a - b),
      'a page is oldest first',
    );
    seen.push(...entries.map((entry) => String(entry.request_id)));
    cursor = String(entries.at(-1)!.ts);
  }
  assert.fail('paging did not end');
}

/** Pages the admin API in one direction (`before` back from the newest, or `after` forward); every request id seen. */
async function pageAdmin(ui: UiFixture, agent: string, random: Random, direction: 'before' | 'after'): Promise<string[]> {
  const seen: string[] = [];
  let query = direction === 'after' ? `after=${encodeURIComponent('1970-01-01T00:00:00Z')}` : '';
  for (let pages = 0; pages < 500; pages++) {
    const limit = 1 + Math.floor(random() * 7);
    const answer = await get(`${ui.url}/api/agents/${agent}/history?limit=${limit}&${query}`, { authorization: `Bearer ${ADMIN}` });
    assert.equal(answer.status, 200, answer.text);
    const page = JSON.parse(answer.text) as { entries: { request_id: string; ts: string }[]; next: Record<string, string> | null };
    seen.push(...page.entries.map((entry) => entry.request_id));
    if (!page.next) return seen;
    query = new URLSearchParams(page.next).toString();
  }
  assert.fail('paging did not end');
}

function assertSameCalls(seen: string[], calls: readonly Call[], label: string): void {
  assert.equal(new Set(seen).size, seen.length, `${label}: no entry twice (seed ${SEED})`);
  assert.deepEqual([...seen].sort(), calls.map((call) => call.requestId).sort(), `${label}: every call once (seed ${SEED})`);
}

describe('session history, randomized (seeded)', () => {
  let h: Harness;
  let ui: UiFixture;
  before(async () => {
    h = await startHarness({ agents: Object.fromEntries(AGENTS.map((id) => [id, {}])), env: { CLLAMA_UI_TOKEN: ADMIN } });
    ui = await startUi(h);
  });
  after(async () => {
    await ui.close();
    await h.close();
  });

  it("concurrent calls: one whole entry per call in its own agent's file; paging the API and the admin views sees each once", async () => {
    const random = seededRandom(SEED);
    const calls = await concurrentCalls(h, random, { count: 90 });
    await (h.tollgate.deps.history as HistoryWriter).flush();
    for (const agent of AGENTS) {
      const mine = calls.filter((call) => call.agent === agent);
      const entries = agentFiles(h, agent);
      assert.equal(new Set(entries.map((entry) => entry.id)).size, entries.length, 'ids unique');
      assertSameCalls(
        entries.map((entry) => String(entry.request_id)),
        mine,
        `${agent}'s file`,
      );
      assertSameCalls(await pageApi(ui.apiUrl, agent, h.token(agent), random), mine, `${agent} paged through /history/{id}`);
      assertSameCalls(await pageAdmin(ui, agent, random, 'before'), mine, `${agent} paged back through the admin API`);
      assertSameCalls(await pageAdmin(ui, agent, random, 'after'), mine, `${agent} paged forward through the admin API`);
    }
  });

  it("random and malicious query strings, ids and tokens: never a 5xx, refusals are text/plain 4xx, never another agent's data", async () => {
    const random = seededRandom(SEED + 1);
    const limits = [
      '',
      '0',
      '-1',
      '%2B3',
      '+3',
      '1',
      '1000',
      '1001',
      '99999999999999999999999',
      'abc',
      '1e3',
      '0x10',
      '%205',
      '5%20',
      '%00',
      '%',
      '1.5',
      '-0',
      '2147483648',
      'NaN',
      'Infinity',
    ];
    const afters = [
      '',
      '2026-01-01T00:00:00Z',
      '1970-01-01T00:00:00.000000001Z',
      '2026-13-45T99:99:99Z',
      'yesterday',
      '0',
      '2026-01-01',
      '2026-01-01T00:00:00+25:00',
      '9999-12-31T23:59:59Z',
      '%',
      '%00',
      '2026-01-01T00:00:00z',
    ];
    const ids = [
      'alpha',
      'beta',
      'gamma',
      'nobody',
      '..',
      '%2e%2e',
      '%2E%2E%2Fbeta',
      '..%2Fbeta',
      'alpha%2F..%2Fbeta',
      'alpha%00',
      '%00',
      'a'.repeat(300),
      '.hidden',
      '%',
      '%ZZ',
      '',
      'alpha/',
      'alpha%20',
      '-x',
      'ALPHA',
    ];
    const tokens = (): Record<string, string> =>
      pick<Record<string, string>>(random, [
        {},
        { authorization: `Bearer ${ADMIN}` },
        { authorization: `Bearer ${h.token('alpha')}` },
        { authorization: `Bearer ${h.token('beta')}` },
        { authorization: 'Bearer alpha:wrong' },
        { authorization: 'Bearer ' },
        { authorization: 'Basic xyz' },
        { 'x-api-key': h.token('gamma') },
        { authorization: `bearer ${ADMIN}x` },
        { authorization: `Bearer nobody:${'s'.repeat(5000)}` },
      ]);
    for (let round = 0; round < 300; round++) {
      const self = random() < 0.3;
      const id = pick(random, ids);
      const params: string[] = [];
      const paramCount = Math.floor(random() * 4);
      for (let i = 0; i < paramCount; i++) params.push(random() < 0.5 ? `limit=${pick(random, limits)}` : `after=${encodeURIComponent(pick(random, afters))}`);
      if (random() < 0.2) params.push(`${pick(random, ['before', 'full', 'x', '', '&&'])}=${pick(random, limits)}`);
      const path = `${self ? '/history' : `/history/${id}`}${params.length ? `?${params.join('&')}` : ''}`;
      const headers = tokens();
      const method = pick(random, ['GET', 'GET', 'GET', 'HEAD', 'POST', 'DELETE', 'PUT']);
      const response = await raw(ui.apiUrl, { method, path, headers });
      const text = response.text;
      const label = `${method} ${path} ${JSON.stringify(headers).slice(0, 80)} (seed ${SEED + 1}, round ${round})`;
      assert.ok(response.status < 500, `${response.status} for ${label}: ${text}`);
      if (response.status >= 400) {
        assert.match(response.type, /^text\/plain/, label);
        if (method !== 'HEAD') assert.ok(text.endsWith('\n') && text.length > 1, `a message for ${label}`);
        continue;
      }
      assert.ok(method === 'GET' || method === 'HEAD', label);
      // who may read what: an agent only itself (own token, or /history), the admin any agent
      const reader = headers.authorization?.replace(/^bearer /i, '') ?? headers['x-api-key'];
      const target = self ? reader?.split(':')[0] : decodeURIComponent(id);
      if (!self) assert.ok(reader === ADMIN || reader === h.token(target!), `read ${target} with ${reader}: ${label}`);
      for (const entry of ndjson(text)) assert.equal(entry.claw_id, target, label);
    }
  });

  it('odd files: garbage, blank and CRLF lines, a torn last line, odd field types, a directory as a file: read what can be, say what was skipped, never a 5xx', async () => {
    const folder = join(h.root, 'history', 'gamma');
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    const good = (ts: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({ version: 1, ts, claw_id: 'gamma', path: '/v1/chat/completions', response: { format: 'json', json: {} }, usage: {}, ...extra });
    writeFileSync(
      join(folder, 'history.jsonl.1'),
      'garbage\n\n\0\0\0\n' + good('2026-01-01T00:00:01Z', { usage: 'odd', latency_ms: 'x', interventions: 5, status_code: '200' }) + '\r\n[1,2]\n',
    );
    writeFileSync(
      join(folder, 'history.jsonl'),
      good('2026-01-01T00:00:02Z', { ts: 7 }) +
        '\n' +
        good('2026-01-01T00:00:03Z', { usage: null, response: 'x' }) +
        '\r\n' +
        good('2026-01-01T00:00:04Z', { huge: 'y'.repeat(3_000_000) }) +
        '\n{"version":1,"ts":"2026-01',
    );
    const api = await get(`${ui.apiUrl}/history/gamma`, { authorization: `Bearer ${ADMIN}` });
    assert.equal(api.status, 200, api.text);
    assert.deepEqual(
      ndjson(api.text).map((entry) => entry.ts),
      ['2026-01-01T00:00:01Z', '2026-01-01T00:00:03Z', '2026-01-01T00:00:04Z'],
    );
    assert.equal(api.headers.get('x-tollgate-history-skipped-lines'), '5', 'garbage, NULs, an array, a non-string ts and the torn last line');
    for (const direction of ['', 'after=2025-01-01T00:00:00Z']) {
      const admin = await get(`${ui.url}/api/agents/gamma/history?${direction}`, { authorization: `Bearer ${ADMIN}` });
      assert.equal(admin.status, 200, admin.text);
      assert.equal((JSON.parse(admin.text) as { entries: unknown[] }).entries.length, 3);
    }
    assert.equal((await get(`${ui.url}/api/agents/gamma`, { authorization: `Bearer ${ADMIN}` })).status, 200);

    // a directory where each file should be: read as absent and said so, not a 500
    for (const name of ['history.jsonl', 'history.jsonl.1']) {
      rmSync(join(folder, name), { force: true });
      mkdirSync(join(folder, name));
      const read = await get(`${ui.apiUrl}/history/gamma`, { authorization: `Bearer ${ADMIN}` });
      assert.equal(read.status, 200, `${name} a directory: ${read.text}`);
      assert.ok(Number(read.headers.get('x-tollgate-history-unreadable-files')) >= 1, `${name} said to be unreadable`);
      for (const query of ['', 'after=2025-01-01T00:00:00Z']) {
        const admin = await get(`${ui.url}/api/agents/gamma/history?${query}`, { authorization: `Bearer ${ADMIN}` });
        assert.equal(admin.status, 200, admin.text);
        assert.ok((JSON.parse(admin.text) as { skipped: { unreadable_files: number } }).skipped.unreadable_files >= 1);
      }
      assert.equal((await get(`${ui.url}/api/agents/gamma`, { authorization: `Bearer ${ADMIN}` })).status, 200);
    }
    rmSync(folder, { recursive: true, force: true });
  });

  it('rotation under concurrent appends: whole lines, and no entry lost but those of generations before the rotated one', async () => {
    const random = seededRandom(SEED + 2);
    const small = await startHarness({ agents: { alpha: {}, beta: {} }, env: { CLLAMA_SESSION_HISTORY_MAX_BYTES: '6000' } });
    try {
      const calls: Call[] = [];
      for (let wave = 0; wave < 6; wave++) calls.push(...(await concurrentCalls(small, random, { count: 12, wave, agents: ['alpha', 'beta'] })));
      await (small.tollgate.deps.history as HistoryWriter).flush();
      for (const agent of ['alpha', 'beta']) {
        const mine = calls.filter((call) => call.agent === agent);
        const kept = agentFiles(small, agent).map((entry) => String(entry.request_id));
        assert.equal(new Set(kept).size, kept.length, 'no entry twice');
        const waveOf = new Map(mine.map((call) => [call.requestId, call.wave]));
        assert.ok(
          kept.every((id) => waveOf.has(id)),
          "only this agent's calls",
        );
        // waves run one after another: once a call of a wave is kept, every call of every later wave is kept
        const oldestKeptWave = Math.min(...kept.map((id) => waveOf.get(id)!));
        const lost = mine.filter((call) => !kept.includes(call.requestId));
        assert.ok(
          lost.every((call) => call.wave <= oldestKeptWave),
          `lost only from the oldest generations: ${JSON.stringify(lost)} (seed ${SEED + 2})`,
        );
        assert.ok(kept.length > 0 && existsSync(join(small.root, 'history', agent, 'history.jsonl.1')), 'rotation happened');
      }
    } finally {
      await small.close();
    }
  });

  it('a clean shutdown right after the answers loses no entry of a completed call', async () => {
    const random = seededRandom(SEED + 3);
    const fresh = await startHarness({ agents: Object.fromEntries(AGENTS.map((id) => [id, {}])) });
    const calls = await concurrentCalls(fresh, random, { count: 60 });
    await fresh.close({ keepFiles: true });
    try {
      for (const agent of AGENTS) {
        assertSameCalls(
          agentFiles(fresh, agent).map((entry) => String(entry.request_id)),
          calls.filter((call) => call.agent === agent),
          `${agent} after close`,
        );
      }
    } finally {
      rmSync(fresh.root, { recursive: true, force: true });
    }
  });
});
