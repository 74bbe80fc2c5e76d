// Admin writes under hostile input: seeded random override bodies, impossible expiry times, racing writers, bearer tokens,
// and a proxy with no admin token. Invariants: never a 5xx, a coded JSON 4xx, a valid file or none, an audit event per change.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';
import { POLICY_FIELDS } from '../../src/budget/policy/fields.ts';
import {
  AGENTS,
  assertCoded,
  assertGovernanceClean,
  call,
  filesUnder,
  hostileHarness,
  overrideEvents,
  overrideOnDisk,
  pick,
  type Random,
  SEED,
  TOKEN,
} from './admin-random-setup.ts';

// ---- random override bodies -------------------------------------------------------------------------------------

const ODD_VALUES: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  -0.5,
  1.5,
  1e308,
  -1e308,
  2 ** 60,
  5e-324,
  '',
  ' ',
  'x',
  '1',
  '-5',
  '1e400',
  'NaN',
  'Infinity',
  [],
  [1, 'a'],
  [null],
  {},
  { a: 1 },
  '\u0000',
  '\ud800',
  'é🙂\u202e',
  'x'.repeat(3000),
];
const EXPIRES: readonly unknown[] = [
  '2099-03-08T00:00:00Z',
  '2099-03-08T00:00:00.123+05:30',
  '2099-02-30T00:00:00Z',
  '2099-04-31T00:00:00Z',
  '2099-01-01T24:00:00Z',
  '2099-01-01T23:60:00Z',
  '2099-01-01T00:00:00+24:00',
  '2099-13-01T00:00:00Z',
  '2099-01-01',
  '2099-01-01T00:00:00',
  'tomorrow',
  '2000-01-01T00:00:00Z',
  '1970-01-01T00:00:00Z',
  4102444800000,
  '+275760-09-13T00:00:00Z',
  '2099-03-08 00:00:00Z',
  '',
];
/** Every field an override may carry: the policy's own (all of them, as they grow) and the override's. */
const FIELDS: readonly string[] = [...POLICY_FIELDS, 'reason', 'set_by', 'expires_at'];

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
  const text = pick<string | undefined>(random, [
    undefined,
    undefined,
    '{"reason":"done"}',
    '{"reason":5}',
    '[]',
    '"x"',
    '{"junk":1}',
    'nope',
    `{"set_by":"${'s'.repeat(300)}"}`,
    '{"reason":null}',
  ]);
  return { query, text };
}

describe('admin writes under hostile input', { timeout: 300_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await hostileHarness();
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
    assert.deepEqual(
      filesUnder(h.root)
        .filter((file) => !file.startsWith('governance/'))
        .filter((file) => !outside.includes(file) && !file.startsWith('history/')),
      [],
      'nothing written outside the governance dir',
    );
    for (const agent of AGENTS)
      await waitFor(() => overrideEvents(h, agent).length === accepted.get(agent), `an override_changed event per accepted change of ${agent}`);
    for (const outcome of ['PUT 200', 'PUT 400', 'PUT 413', 'DELETE 200', 'DELETE 400'])
      assert.ok((statuses.get(outcome) ?? 0) > 0, `${outcome} exercised: ${JSON.stringify([...statuses])}`);
    assert.equal((await call(h, '/api/summary')).status, 200, 'still serving');
  });

  it('impossible or past expires_at is refused, not rolled over to another date', async () => {
    for (const expires of [
      '2099-02-30T00:00:00Z',
      '2099-04-31T00:00:00Z',
      '2099-01-01T24:00:00Z',
      '2099-01-01T00:00:00+24:00',
      '2000-01-01T00:00:00Z',
      '2099-01-01',
    ]) {
      const answer = await call(h, '/api/agents/c/override', {
        method: 'PUT',
        body: JSON.stringify({ limit_usd: 1, window: '1h', reason: 'x', expires_at: expires }),
      });
      assert.equal(answer.status, 400, `${expires}: ${answer.text}`);
      assert.equal(answer.body.error.code, 'invalid_request');
    }
    for (const before of ['2099-02-30T00:00:00Z', '2026-01-01T00:00:00+99:00']) {
      const page = await call(h, `/api/agents/a/history?before=${encodeURIComponent(before)}`);
      assert.equal(page.status, 400, `before=${before}: ${page.text}`);
    }
    const leap = await call(h, '/api/agents/c/override', {
      method: 'PUT',
      body: JSON.stringify({ limit_usd: 1, window: '1h', reason: 'x', expires_at: '2096-02-29T00:00:00Z' }),
    });
    assert.equal(leap.status, 200, leap.text);
    assert.equal((await call(h, '/api/agents/c/override', { method: 'DELETE' })).status, 200);
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
        const answer = await call(h, '/api/agents/a/override', {
          method,
          token,
          body: method === 'PUT' ? '{"limit_usd":1,"window":"1h","reason":"x"}' : undefined,
        });
        assert.equal(answer.status, 403, `${method} with ${token}: ${answer.text}`);
        assert.equal(answer.body.error.code, 'writes_disabled');
      }
    }
    assert.deepEqual(filesUnder(join(h.root, 'governance')), []);
    assert.equal((await call(h, '/api/agents', { token: null })).status, 200);
  });
});
