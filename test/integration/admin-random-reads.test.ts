// Admin reads under hostile input: odd agent ids in the URL, junk query strings, bad replay counts on the live feed.
// Invariants: never a 5xx, a coded JSON 4xx, nothing written to the file system.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Harness } from '../helpers/harness.ts';
import { seededRandom } from '../helpers/random.ts';
import { assertCoded, call, filesUnder, hostileHarness, pick, SEED, TOKEN } from './admin-random-setup.ts';

describe('admin reads under hostile input', { timeout: 300_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await hostileHarness();
  });
  after(() => h.close());

  it('odd agent ids in the URL are a coded 4xx and never reach the file system', async () => {
    const random = seededRandom(SEED + 1);
    const before = filesUnder(h.root);
    const ids = [
      '..',
      '%2e%2e',
      '.%2e',
      '%2F',
      'a%2Fb',
      'a%2F..%2F..%2Fx',
      '..%2F..%2Fetc',
      '.hidden',
      '_shared',
      '_x',
      'x'.repeat(5000),
      'a%00',
      '%C3%A4',
      'a..b',
      'ghost',
      '%',
      '%ZZ',
      'a b',
      'A',
      'a%20',
      '%2e',
      'a.json',
    ];
    for (let i = 0; i < 40; i++)
      ids.push(Array.from({ length: 1 + Math.floor(random() * 12) }, () => pick(random, ['a', '.', '%2F', '%2e', '_', '-', '%00', '~', '%5C', 'é'])).join(''));
    for (const id of ids) {
      for (const [method, suffix, body] of [
        ['GET', '', undefined],
        ['GET', '/history?limit=5', undefined],
        ['PUT', '/override', '{"limit_usd":1,"window":"1h","reason":"x"}'],
        ['DELETE', '/override', undefined],
        ['POST', '/override', '{}'],
      ] as const) {
        const answer = await call(h, `/api/agents/${id}${suffix}`, { method, body });
        const what = `${method} /api/agents/${id.slice(0, 60)}${suffix}`;
        assertCoded(answer, what);
        // `%2e` and `.%2e` are dot segments the URL parser resolves: /api/agents/%2e is the list itself
        const theList = method === 'GET' && suffix === '' && answer.status === 200 && Array.isArray(answer.body?.agents);
        assert.ok(theList || [400, 404, 405].includes(answer.status), `${what}: ${answer.status}`);
      }
    }
    assert.deepEqual(
      filesUnder(h.root).filter((file) => !before.includes(file) && !file.startsWith('history/')),
      [],
      'no file created',
    );
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
      const response = await fetch(`${h.tollgate.uiUrl}/api/events?replay=${replay}&types=nope,,`, {
        headers: { authorization: `Bearer ${TOKEN}` },
        signal: aborter.signal,
      });
      assert.equal(response.status, 200, `replay=${replay}`);
      assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
      aborter.abort();
    }
  });
});
