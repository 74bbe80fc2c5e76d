// The operator surface under hostile input: seeded random override bodies, odd agent ids, auth, racing writes, raw HTTP on
// the UI port, and the CLI against a broken proxy. Invariants: never a 5xx, a coded JSON 4xx, a valid file or none.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { BIN } from '../helpers/process.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';

const TOKEN = 'admin-random-token';
const SEED = 20261129;

type Random = () => number;
const pick = <T,>(random: Random, values: readonly T[]): T => values[Math.floor(random() * values.length)];

interface Answer {
  status: number;
  text: string;
  body: any;
}

async function call(h: Harness, path: string, init: { method?: string; body?: string; headers?: Record<string, string>; token?: string | null } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${h.tollgate.uiUrl}${path}`, { method: init.method ?? 'GET', headers, body: init.body, redirect: 'manual' });
  const text = await response.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  return { status: response.status, text, body };
}

/** Never a 5xx; a 4xx under /api/ is `{"error":{"code","message"}}`. */
function assertCoded(answer: Answer, what: string): void {
  assert.ok(answer.status < 500, `${answer.status} for ${what}: ${answer.text.slice(0, 300)}`);
  if (answer.status >= 400) {
    assert.equal(typeof answer.body?.error?.code, 'string', `a JSON error code for ${what}: ${answer.text.slice(0, 300)}`);
    assert.equal(typeof answer.body?.error?.message, 'string', `a JSON error message for ${what}`);
  }
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => relative(dir, path))
    .sort();
}

/** The governance tree holds only `<agent>/budget.json` files of known agents, each a complete JSON object (no temporary files). */
function assertGovernanceClean(h: Harness, agents: readonly string[]): void {
  const dir = join(h.root, 'governance');
  for (const file of filesUnder(dir)) {
    const [agent, name, ...rest] = file.split('/');
    assert.ok(agents.includes(agent) && name === 'budget.json' && rest.length === 0, `unexpected file in the governance dir: ${file}`);
    const value = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    assert.ok(value && typeof value === 'object' && !Array.isArray(value), `${file} is a JSON object`);
  }
}

function overrideOnDisk(h: Harness, agent: string): Record<string, unknown> | null {
  const file = join(h.root, 'governance', agent, 'budget.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
}

function overrideEvents(h: Harness, agent: string): Record<string, any>[] {
  return h.events.filter((event) => event.type === 'override_changed' && event.claw_id === agent);
}

// ---- random override bodies -------------------------------------------------------------------------------------

const ODD_VALUES: readonly unknown[] = [
  null, true, false, 0, -1, -0.5, 1.5, 1e308, -1e308, 2 ** 60, 5e-324, '', ' ', 'x', '1', '-5', '1e400', 'NaN', 'Infinity',
  [], [1, 'a'], [null], {}, { a: 1 }, '\u0000', '\ud800', 'é🙂\u202e', 'x'.repeat(3000),
];
const EXPIRES: readonly unknown[] = [
  '2099-03-08T00:00:00Z', '2099-03-08T00:00:00.123+05:30', '2099-02-30T00:00:00Z', '2099-04-31T00:00:00Z', '2099-01-01T24:00:00Z',
  '2099-01-01T23:60:00Z', '2099-01-01T00:00:00+24:00', '2099-13-01T00:00:00Z', '2099-01-01', '2099-01-01T00:00:00', 'tomorrow',
  '2000-01-01T00:00:00Z', '1970-01-01T00:00:00Z', 4102444800000, '+275760-09-13T00:00:00Z', '2099-03-08 00:00:00Z', '',
];
const FIELDS: readonly string[] = [
  'limit_usd', 'max_requests', 'max_input_tokens', 'max_output_tokens', 'max_total_tokens', 'max_concurrent', 'window', 'behavior',
  'limits', 'shared', 'unknown_cost', 'fallback_rates', 'alerts', 'downgrade_to', 'downgrade_at', 'reason', 'set_by', 'expires_at',
];

function validPolicy(random: Random): Record<string, unknown> {
  return {
    limit_usd: pick(random, [0.01, 1, 20, 1e6]),
    window: pick(random, ['30s', '1h', '24h', '7d', '1d12h']),
    behavior: pick(random, ['hard_stop', 'rate_limit', 'soft_alert', 'Hard_Stop']),
    reason: pick(random, ['launch week', 'incident 42', 'é🙂 raise']),
    ...(random() < 0.3 ? { limits: [{ max_requests: 100, window: '1m', models: ['openai/*'] }] } : {}),
    ...(random() < 0.2 ? { alerts: [0.5, 0.8, 1] } : {}),
    ...(random() < 0.2 ? { set_by: 'ops@desk' } : {}),
  };
}

function deepArray(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

/** A PUT body as text, with the content-type it is sent with: mostly a valid policy mutated in one or more ways. */
function randomPutBody(random: Random): { text: string; contentType?: string } {
  const roll = random();
  if (roll < 0.04) return { text: pick(random, ['', ' ', 'null', '[]', '"x"', '1', '{', '{"reason":', 'not json', '\u0000']) };
  if (roll < 0.06) return { text: `{"reason":"x","limit_usd":1,"window":"1h","limits":[{"window":"1h","limit_usd":1,"models":${deepArray(5000)}}]}` };
  if (roll < 0.08) return { text: `{"reason":"x","limit_usd":1,"window":"1h","junk":${deepArray(20000)}}` };
  if (roll < 0.1) return { text: JSON.stringify({ ...validPolicy(random), reason: 'y'.repeat(70_000) }) };
  if (roll < 0.12) return { text: '{"reason":"x","limit_usd":1e400,"window":"1h"}' };
  const body = validPolicy(random);
  const mutations = Math.floor(random() * 3);
  for (let i = 0; i < mutations; i++) {
    const kind = random();
    if (kind < 0.45) body[pick(random, FIELDS)] = pick(random, ODD_VALUES);
    else if (kind < 0.6) body.expires_at = pick(random, EXPIRES);
    else if (kind < 0.7) body[pick(random, ['junk', '__proto__', 'constructor', 'limitUsd', 'LIMIT_USD', ''])] = 1;
    else if (kind < 0.8) delete body[pick(random, FIELDS)];
    else if (kind < 0.9) body.limits = [pick(random, [{ window: '1h' }, { limit_usd: 1 }, { limit_usd: 1, window: '1h', extra: true }, 'x', null])];
    else body.shared = pick(random, [['ghost'], ['..'], [''], [1]]);
  }
  let text = JSON.stringify(body);
  if (random() < 0.05) text = text.replace(/^\{/, '{"__proto__":{"limit_usd":1e9},'); // an own __proto__ key, as JSON.parse makes it
  return { text, contentType: pick(random, ['application/json', 'text/plain', 'application/x-www-form-urlencoded', undefined]) };
}

/** A DELETE: an optional body and query, often malformed. */
function randomDelete(random: Random): { query: string; text?: string } {
  const query = pick(random, ['', '?reason=over', `?reason=${'r'.repeat(600)}`, '?set_by=ops&reason=done', '?reason=', '?reason=%E2%82%AC', '?junk=1']);
  const text = pick<string | undefined>(random, [undefined, undefined, '{"reason":"done"}', '{"reason":5}', '[]', '"x"', '{"junk":1}', 'nope', `{"set_by":"${'s'.repeat(300)}"}`, '{"reason":null}']);
  return { query, text };
}

describe('admin API under hostile input', { timeout: 300_000 }, () => {
  let h: Harness;
  const AGENTS = ['a', 'b', 'c'];
  before(async () => {
    h = await startHarness({ agents: { a: {}, b: { budget: { limit_usd: 5, window: '1h' } }, c: {} }, env: { CLLAMA_UI_TOKEN: TOKEN } });
  });
  after(() => h.close());

  it('random override writes: a 200 is exactly the file on disk and an audit event, a refusal a coded 4xx, nothing else written', async () => {
    const random = seededRandom(SEED);
    const outside = filesUnder(h.root).filter((file) => !file.startsWith('governance/'));
    const statuses = new Map<string, number>();
    const accepted = new Map<string, number>(AGENTS.map((agent) => [agent, 0]));
    for (let round = 0; round < 400; round++) {
      const agent = pick(random, AGENTS);
      const path = `/api/agents/${agent}/override`;
      if (random() < 0.75) {
        const { text, contentType } = randomPutBody(random);
        const answer = await call(h, path, { method: 'PUT', body: text, headers: contentType ? { 'content-type': contentType } : {} });
        const what = `seed ${SEED} round ${round}: PUT ${text.slice(0, 200)}`;
        assertCoded(answer, what);
        statuses.set(`PUT ${answer.status}`, (statuses.get(`PUT ${answer.status}`) ?? 0) + 1);
        if (answer.status === 200) {
          accepted.set(agent, accepted.get(agent)! + 1);
          assert.deepEqual(overrideOnDisk(h, agent), answer.body.override, `the file is what the answer says was written (${what})`);
          const expires = answer.body.override.expires_at;
          if (expires !== undefined) assert.ok(Date.parse(expires) > Date.now(), `an accepted expires_at is in the future (${what})`);
        } else {
          assert.ok([400, 413].includes(answer.status), `a bad body is 400 or 413 (${what}): ${answer.status}`);
        }
      } else {
        const { query, text } = randomDelete(random);
        const had = overrideOnDisk(h, agent) !== null;
        const answer = await call(h, `${path}${query}`, { method: 'DELETE', body: text });
        const what = `seed ${SEED} round ${round}: DELETE ${query} ${text ?? ''}`;
        assertCoded(answer, what);
        statuses.set(`DELETE ${answer.status}`, (statuses.get(`DELETE ${answer.status}`) ?? 0) + 1);
        if (answer.status === 200) {
          assert.equal(answer.body.cleared, had, what);
          if (had) accepted.set(agent, accepted.get(agent)! + 1);
          assert.equal(overrideOnDisk(h, agent), null, what);
        } else {
          assert.equal(overrideOnDisk(h, agent) !== null, had, `a refused DELETE leaves the file (${what})`);
        }
      }
      assertGovernanceClean(h, AGENTS);
      const detail = await call(h, `/api/agents/${agent}`);
      assert.equal(detail.status, 200);
      assert.deepEqual(detail.body.override.content, overrideOnDisk(h, agent), `GET shows the file (seed ${SEED} round ${round})`);
    }
    assert.deepEqual(filesUnder(h.root).filter((file) => !file.startsWith('governance/')).filter((file) => !outside.includes(file) && !file.startsWith('history/')), [], 'nothing written outside the governance dir');
    for (const agent of AGENTS) await waitFor(() => overrideEvents(h, agent).length === accepted.get(agent), `an override_changed event per accepted change of ${agent}`);
    for (const outcome of ['PUT 200', 'PUT 400', 'PUT 413', 'DELETE 200', 'DELETE 400']) assert.ok((statuses.get(outcome) ?? 0) > 0, `${outcome} exercised: ${JSON.stringify([...statuses])}`);
    assert.equal((await call(h, '/api/summary')).status, 200, 'still serving');
  });

  it('impossible or past expires_at is refused, not rolled over to another date', async () => {
    for (const expires of ['2099-02-30T00:00:00Z', '2099-04-31T00:00:00Z', '2099-01-01T24:00:00Z', '2099-01-01T00:00:00+24:00', '2000-01-01T00:00:00Z', '2099-01-01']) {
      const answer = await call(h, '/api/agents/c/override', { method: 'PUT', body: JSON.stringify({ limit_usd: 1, window: '1h', reason: 'x', expires_at: expires }) });
      assert.equal(answer.status, 400, `${expires}: ${answer.text}`);
      assert.equal(answer.body.error.code, 'invalid_request');
    }
    for (const before of ['2099-02-30T00:00:00Z', '2026-01-01T00:00:00+99:00']) {
      const page = await call(h, `/api/agents/a/history?before=${encodeURIComponent(before)}`);
      assert.equal(page.status, 400, `before=${before}: ${page.text}`);
    }
    const leap = await call(h, '/api/agents/c/override', { method: 'PUT', body: JSON.stringify({ limit_usd: 1, window: '1h', reason: 'x', expires_at: '2096-02-29T00:00:00Z' }) });
    assert.equal(leap.status, 200, leap.text);
    assert.equal((await call(h, '/api/agents/c/override', { method: 'DELETE' })).status, 200);
  });

  it('odd agent ids in the URL are a coded 4xx and never reach the file system', async () => {
    const random = seededRandom(SEED + 1);
    const before = filesUnder(h.root);
    const ids = ['..', '%2e%2e', '.%2e', '%2F', 'a%2Fb', 'a%2F..%2F..%2Fx', '..%2F..%2Fetc', '.hidden', '_shared', '_x', 'x'.repeat(5000), 'a%00', '%C3%A4', 'a..b', 'ghost', '%', '%ZZ', 'a b', 'A', 'a%20', '%2e', 'a.json'];
    for (let i = 0; i < 40; i++) ids.push(Array.from({ length: 1 + Math.floor(random() * 12) }, () => pick(random, ['a', '.', '%2F', '%2e', '_', '-', '%00', '~', '%5C', 'é'])).join(''));
    for (const id of ids) {
      for (const [method, suffix, body] of [['GET', '', undefined], ['GET', '/history?limit=5', undefined], ['PUT', '/override', '{"limit_usd":1,"window":"1h","reason":"x"}'], ['DELETE', '/override', undefined], ['POST', '/override', '{}']] as const) {
        const answer = await call(h, `/api/agents/${id}${suffix}`, { method, body });
        const what = `${method} /api/agents/${id.slice(0, 60)}${suffix}`;
        assertCoded(answer, what);
        // `%2e` and `.%2e` are dot segments the URL parser resolves: /api/agents/%2e is the list itself
        const theList = method === 'GET' && suffix === '' && answer.status === 200 && Array.isArray(answer.body?.agents);
        assert.ok(theList || [400, 404, 405].includes(answer.status), `${what}: ${answer.status}`);
      }
    }
    assert.deepEqual(filesUnder(h.root).filter((file) => !before.includes(file) && !file.startsWith('history/')), [], 'no file created');
  });

  it('junk query strings on the read endpoints are a 200 or a coded 400', async () => {
    const random = seededRandom(SEED + 2);
    const values = ['-1', '0', '1', '1e3', '99999999999999999999', 'abc', '', '%00', '0x10', ' 12 ', '2026-01-01T00:00:00Z', 'NaN', '-0', '1.5'];
    for (let i = 0; i < 120; i++) {
      const params = new URLSearchParams();
      for (const name of ['limit', 'after', 'before', 'full', 'replay', 'types', 'junk']) if (random() < 0.4) params.append(name, pick(random, values));
      for (const path of ['/api/agents', '/api/agents/b', '/api/agents/b/history', '/api/shared', '/api/summary']) {
        const answer = await call(h, `${path}?${params}`);
        assertCoded(answer, `${path}?${params}`);
        assert.ok([200, 400].includes(answer.status), `${path}?${params}: ${answer.status}`);
      }
    }
  });

  it('the live feed refuses a replay count that is not a whole number, and streams for one that is', async () => {
    for (const replay of ['-1', 'abc', '1e9', '1.5', '0x10', 'NaN']) {
      const answer = await call(h, `/api/events?replay=${replay}`);
      assert.equal(answer.status, 400, `replay=${replay}: ${answer.text}`);
      assert.equal(answer.body.error.code, 'invalid_request');
    }
    for (const replay of ['0', '5', '99999999999999999999', '']) {
      const aborter = new AbortController();
      const response = await fetch(`${h.tollgate.uiUrl}/api/events?replay=${replay}&types=nope,,`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: aborter.signal });
      assert.equal(response.status, 200, `replay=${replay}`);
      assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
      aborter.abort();
    }
  });

  it('two writers racing on one agent: the file is always whole, GET shows it, the audit events chain', async () => {
    const random = seededRandom(SEED + 3);
    const agent = 'a';
    await call(h, `/api/agents/${agent}/override`, { method: 'DELETE' });
    const firstEvent = overrideEvents(h, agent).length;
    let changes = 0;
    for (let round = 0; round < 40; round++) {
      const writes = Array.from({ length: 2 + Math.floor(random() * 6) }, (_, index) => {
        if (random() < 0.3) return call(h, `/api/agents/${agent}/override`, { method: 'DELETE' });
        // reasons of different lengths: two writes sharing a temporary file would leave a torn mix of both
        const body = { limit_usd: index + 1, window: '1h', reason: `round ${round} writer ${index} ${'r'.repeat(Math.floor(random() * 400))}` };
        return call(h, `/api/agents/${agent}/override`, { method: 'PUT', body: JSON.stringify(body) });
      });
      const answers = await Promise.all(writes);
      for (const answer of answers) {
        assert.equal(answer.status, 200, `seed ${SEED + 3} round ${round}: ${answer.text.slice(0, 300)}`);
        if (answer.body.override || answer.body.cleared) changes += 1;
      }
      assertGovernanceClean(h, AGENTS);
      const detail = await call(h, `/api/agents/${agent}`);
      assert.deepEqual(detail.body.override.content, overrideOnDisk(h, agent), `GET shows the file (round ${round})`);
    }
    await waitFor(() => overrideEvents(h, agent).length - firstEvent === changes, 'an event per change');
    // each event's `previous` is what the event before it left in place: no change was lost or reported against a stale file
    let state: unknown = null;
    for (const event of overrideEvents(h, agent).slice(firstEvent)) {
      assert.deepEqual(event.previous, state, `event ${JSON.stringify(event).slice(0, 200)}`);
      state = event.action === 'set' ? event.override : null;
    }
    assert.deepEqual(state, overrideOnDisk(h, agent), 'the last event describes the file');
  });

  it('bearer tokens: the scheme is case-insensitive, the token is not; writes need it', async () => {
    const body = '{"limit_usd":1,"window":"1h","reason":"auth"}';
    const cases: [Record<string, string>, number][] = [
      [{}, 401],
      [{ authorization: `Bearer ${TOKEN.toUpperCase()}` }, 401],
      [{ authorization: `Bearer ${TOKEN}x` }, 401],
      [{ authorization: `Bearer ${TOKEN.slice(0, -1)}` }, 401],
      [{ authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }, 401],
      [{ authorization: TOKEN }, 401],
      [{ authorization: 'Bearer' }, 401],
      [{ authorization: `Bearer ${'x'.repeat(8000)}` }, 401],
      [{ cookie: 'tollgate_ui_session=forged' }, 401],
      [{ authorization: `bEaReR ${TOKEN}` }, 200],
      [{ authorization: `  Bearer   ${TOKEN}  ` }, 200],
    ];
    for (const [headers, status] of cases) {
      const answer = await call(h, '/api/agents/c/override', { method: 'PUT', body, headers, token: null });
      assert.equal(answer.status, status, `${JSON.stringify(headers).slice(0, 80)}: ${answer.text}`);
      assertCoded(answer, JSON.stringify(headers).slice(0, 80));
    }
    assert.equal((await call(h, '/api/agents/c/override', { method: 'DELETE' })).status, 200);
  });
});

describe('admin writes without a configured token', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: {} } });
  });
  after(() => h.close());

  it('refuses every write with 403 writes_disabled, whatever is presented, and writes nothing', async () => {
    for (const token of [null, 'anything', '']) {
      for (const method of ['PUT', 'DELETE']) {
        const answer = await call(h, '/api/agents/a/override', { method, token, body: method === 'PUT' ? '{"limit_usd":1,"window":"1h","reason":"x"}' : undefined });
        assert.equal(answer.status, 403, `${method} with ${token}: ${answer.text}`);
        assert.equal(answer.body.error.code, 'writes_disabled');
      }
    }
    assert.deepEqual(filesUnder(join(h.root, 'governance')), []);
    assert.equal((await call(h, '/api/agents', { token: null })).status, 200);
  });
});

// ---- raw HTTP on the UI port --------------------------------------------------------------------------------------

/** Writes raw bytes to the UI port and collects what comes back until the server closes (or a bounded wait passes). */
function rawExchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
    socket.setTimeout(5_000, () => socket.destroy());
  });
}

function parseRaw(answer: string): { status: number; headers: string; body: string } {
  const split = answer.indexOf('\r\n\r\n');
  const head = answer.slice(0, split);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head.toLowerCase(), body: answer.slice(split + 4) };
}

describe('raw HTTP on the UI port', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: {} }, env: { CLLAMA_UI_TOKEN: TOKEN } });
  });
  after(() => h.close());

  it('answers what node:http rejects in the UI formats (JSON under /api/, text elsewhere), never a 5xx, and keeps serving', async () => {
    const auth = `Authorization: Bearer ${TOKEN}\r\n`;
    const big = `X-Big: ${'a'.repeat(20_000)}\r\n`;
    const cases: { bytes: string; status: number; json: boolean; code?: string }[] = [
      { bytes: 'GARBAGE /api/agents\r\n\r\n', status: 400, json: true, code: 'invalid_request' },
      { bytes: 'GARBAGE /metrics\r\n\r\n', status: 400, json: false },
      { bytes: `GET /api/agents HTTP/1.1\r\nHost: x\r\n${big}\r\n`, status: 431, json: true, code: 'headers_too_large' },
      { bytes: `GET /costs/api HTTP/1.1\r\nHost: x\r\n${big}\r\n`, status: 431, json: false },
      { bytes: `GET /api/agents HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`, status: 400, json: true, code: 'invalid_request' },
      { bytes: `PUT /api/agents/a/override HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\nzz\r\n`, status: 400, json: true, code: 'invalid_request' },
      { bytes: `PUT /api/agents/a/override HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 10000000\r\nConnection: close\r\n\r\n{"reason":`, status: 413, json: true, code: 'payload_too_large' },
      { bytes: `PUT /api/agents/a/override HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${'10000\r\n' + 'x'.repeat(0x10000) + '\r\n'}10\r\n${'x'.repeat(16)}\r\n0\r\n\r\n`, status: 413, json: true, code: 'payload_too_large' },
      { bytes: `GET http://[::1/api HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, status: 400, json: false },
      { bytes: `GET // HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, status: 404, json: false },
      { bytes: `GET //:99999/api/agents HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, status: 404, json: false },
      { bytes: `GET /api/agents/%ZZ HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, status: 404, json: true, code: 'not_found' },
    ];
    for (const testCase of cases) {
      const answer = parseRaw(await rawExchange(h.tollgate.uiUrl, testCase.bytes));
      const what = testCase.bytes.slice(0, 80);
      assert.equal(answer.status, testCase.status, `${what}: ${answer.headers} ${answer.body.slice(0, 200)}`);
      if (testCase.json) {
        assert.match(answer.headers, /content-type: application\/json/, what);
        assert.equal(JSON.parse(answer.body).error.code, testCase.code, what);
      } else {
        assert.match(answer.headers, /content-type: text\/plain/, what);
      }
    }
    assert.equal(overrideOnDisk(h, 'a'), null, 'no partial body was ever taken as an override');
    assert.equal((await call(h, '/api/summary')).status, 200, 'still serving');
  });

  it('a signed-in browser is sent back to a path on this site, never to //another-host', async () => {
    for (const target of ['//evil.example/x', '///evil.example/x', '/\\evil.example/x', '/%2F/evil.example']) {
      const answer = parseRaw(await rawExchange(h.tollgate.uiUrl, `GET ${target}?token=${TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      assert.equal(answer.status, 303, target);
      const location = /\r\nlocation: ([^\r]*)/.exec(answer.headers)?.[1] ?? '';
      assert.match(location, /^\/(?![/\\])/, `${target} is sent to ${location}`);
    }
  });
});

// ---- the CLI against a broken proxy -------------------------------------------------------------------------------

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function tollgate(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as unknown as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A server that answers every request the same broken way. */
async function brokenServer(answer: (res: import('node:http').ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    answer(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('the CLI against a proxy that is down, broken or refuses the token', { timeout: 300_000 }, () => {
  const servers: Server[] = [];
  after(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('status, override set and override clear exit 1 with one clear line, never a stack trace or a false success', async () => {
    const h = await startHarness({ agents: { a: {} }, env: { CLLAMA_UI_TOKEN: TOKEN } });
    try {
      const broken = {
        '500 JSON': (res: import('node:http').ServerResponse) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"internal","message":"boom"}}'),
        '500 HTML page': (res: import('node:http').ServerResponse) => res.writeHead(500, { 'content-type': 'text/html' }).end(`<html><body>${'<p>oops</p>\n'.repeat(2000)}</body></html>`),
        '200 not JSON': (res: import('node:http').ServerResponse) => res.writeHead(200).end('hello'),
        '200 JSON of another service': (res: import('node:http').ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'),
        '200 null': (res: import('node:http').ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end('null'),
        'connection reset': (res: import('node:http').ServerResponse) => res.socket?.destroy(),
      };
      const closed = await brokenServer(() => undefined);
      await new Promise((resolve) => closed.server.close(resolve)); // nothing listens on its port any more
      const targets: [string, string, string][] = [['down', closed.url, TOKEN], ['wrong token', h.tollgate.uiUrl, 'wrong-token'], ['not a URL', 'ftp://x', TOKEN]];
      for (const [name, answer] of Object.entries(broken)) {
        const { url, server } = await brokenServer(answer);
        servers.push(server);
        targets.push([name, url, TOKEN]);
      }
      const commands = [['status'], ['override', 'set', 'a', '--limit-usd', '1', '--window', '1h', '--reason', 'x'], ['override', 'clear', 'a']];
      const runs: { name: string; command: string[]; run: Run }[] = [];
      for (const [name, url, token] of targets) {
        runs.push(...(await Promise.all(commands.map(async (command) => ({ name, command, run: await tollgate([...command, '--url', url, '--token', token]) })))));
      }
      // every broken run listed at once: a message, not a stack trace or a raw TypeError; exit 1 and nothing on stdout
      const problems: string[] = [];
      for (const { name, command, run } of runs) {
        const what = `${command.slice(0, 2).join(' ')} against ${name}`;
        if (run.code !== 1) problems.push(`${what}: exit ${run.code}, stdout ${JSON.stringify(run.stdout.slice(0, 120))}`);
        else if (run.stdout !== '') problems.push(`${what}: printed ${JSON.stringify(run.stdout.slice(0, 120))}`);
        if (!/^tollgate: \S/.test(run.stderr) || /\n\s+at |TypeError|Cannot read properties/.test(run.stderr)) problems.push(`${what}: ${JSON.stringify(run.stderr.slice(0, 200))}`);
        if (run.stderr.length > 600) problems.push(`${what}: ${run.stderr.length} characters on stderr`);
        if (run.stderr.includes('wrong-token')) problems.push(`${what}: the token was echoed`);
      }
      assert.deepEqual(problems, []);
      assert.equal(overrideOnDisk(h, 'a'), null, 'nothing was written with a wrong token');
    } finally {
      await h.close();
    }
  });
});
