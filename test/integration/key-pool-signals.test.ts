// Key pools beyond cllama: cooldowns from provider headers, strategies, dead keys re-checked and revived, webhook alerts.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { startHarness, TEST_FORWARD_HEADERS, type Harness } from '../helpers/harness.ts';
import { credentialOf } from '../helpers/fake-credentials.ts';
import { waitFor } from '../helpers/wait.ts';

const KEYS = ['sk-signal-key-zero-00000', 'sk-signal-key-one-111111', 'sk-signal-key-two-222222'];

function v2File(count: number, extra: Record<string, unknown> = {}) {
  return (url: string) => ({
    version: 2,
    providers: {
      openai: {
        base_url: `${url}/v1`,
        active_key_id: 'k0',
        forward_headers: TEST_FORWARD_HEADERS,
        keys: KEYS.slice(0, count).map((secret, index) => ({ id: `k${index}`, secret, state: 'ready' })),
        ...extra,
      },
    },
  });
}

const ask = { model: 'openai/gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 5 };

describe('key pool signals', () => {
  let h: Harness | undefined;
  let hook: Server | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
    hook?.close();
    hook = undefined;
  });
  const start = async (count: number, options: { env?: Record<string, string>; extra?: Record<string, unknown> } = {}) => {
    h = await startHarness({ providersFile: v2File(count, options.extra), env: options.env });
    return { h, client: new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 }) };
  };
  const chatKeys = (harness: Harness, from = 0) =>
    harness.fake.requests
      .slice(from)
      .filter((request) => request.method === 'POST')
      .map((request) => KEYS.indexOf(credentialOf(request.headers)));
  const pool = (harness: Harness, action: string) => harness.events.filter((event) => event.type === 'provider_pool' && event.action === action);

  it("a 429's x-ratelimit-reset-requests sets the cooldown (not cllama's 10 s default)", async () => {
    const { h, client } = await start(2);
    h.fake.byKey = {
      [KEYS[0]]: { status: 429, headers: { 'x-ratelimit-reset-requests': '2s', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-tokens': '30s' } },
    };
    await client.chat.completions.create(ask);
    await waitFor(() => pool(h, 'cooldown').length === 1, 'the cooldown event');
    const [event] = pool(h, 'cooldown');
    assert.equal(event.cooldown_source, 'x-ratelimit-reset');
    assert.equal(event.retry_after_ms, 2000);
    assert.equal(event.masked_key, 'sk-s...0000');
  });

  it('round_robin spreads calls over the keys', async () => {
    const { h, client } = await start(3, { extra: { key_strategy: 'round_robin' } });
    for (let i = 0; i < 6; i++) await client.chat.completions.create(ask);
    assert.deepEqual(chatKeys(h), [0, 1, 2, 0, 1, 2]);
  });

  it('most_headroom prefers the key the provider last said has the most requests left', async () => {
    const { h, client } = await start(3, { extra: { key_strategy: 'most_headroom' } });
    const left = (requests: string) => ({ headers: { 'x-ratelimit-remaining-requests': requests, 'x-ratelimit-remaining-tokens': '100000' } });
    h.fake.byKey = { [KEYS[0]]: left('2'), [KEYS[1]]: left('500'), [KEYS[2]]: left('40') };
    for (let i = 0; i < 5; i++) await client.chat.completions.create(ask);
    assert.deepEqual(chatKeys(h), [0, 1, 2, 1, 1], 'each unmeasured key is tried once, then the one with the most left');
  });

  it('a dead key is re-checked with the model list after its back-off and revived when it answers', async () => {
    const { h, client } = await start(2, { env: { TOLLGATE_KEY_RECHECK_MS: '200' } });
    h.fake.byKey = { [KEYS[0]]: { status: 401 } };
    await client.chat.completions.create(ask);
    await waitFor(() => h.fake.requests.some((request) => request.method === 'GET'), 'a first re-check');
    assert.equal(pool(h, 'revived').length, 0, 'still refused: still dead');
    await client.chat.completions.create(ask);
    assert.deepEqual(chatKeys(h), [0, 1, 1]);
    h.fake.byKey = {}; // the provider takes the key again
    await waitFor(() => pool(h, 'revived').length === 1, 'the revival');
    const checks = h.fake.requests.filter((request) => request.method === 'GET');
    assert.match(checks[0].path, /\/v1\/models$/);
    assert.equal(credentialOf(checks[0].headers), KEYS[0]);
    const before = h.fake.requests.length;
    await client.chat.completions.create(ask);
    assert.deepEqual(chatKeys(h, before), [0], 'the revived active key is used again');
  });

  it('the alert webhook hears a key die and a pool go cooling, with no secret in either', async () => {
    const alerts: Record<string, unknown>[] = [];
    const bodies: string[] = [];
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        bodies.push(body);
        alerts.push(JSON.parse(body));
        res.end();
      });
    });
    await new Promise<void>((resolve) => hook!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
    const { h, client } = await start(2, { env: { TOLLGATE_ALERT_WEBHOOK_URL: url } });
    h.fake.byKey = { [KEYS[0]]: { status: 403 }, [KEYS[1]]: { status: 429, headers: { 'retry-after': '5' } } };
    const status = await client.chat.completions.create(ask).then(
      () => 200,
      (error: { status?: number }) => error.status,
    );
    assert.equal(status, 503);
    await waitFor(() => alerts.length >= 2, 'two alerts');
    assert.deepEqual(
      alerts.map((alert) => [alert.type, alert.action, alert.key_id]),
      [
        ['provider_pool', 'dead', 'k0'],
        ['provider_pool', 'pool_cooling', null],
      ],
    );
    for (const body of bodies) for (const key of KEYS) assert.ok(!body.includes(key.slice(0, 12)), 'no secret in an alert');
  });
});
