// Provider key pools end to end with the official SDKs: rotation on 429, dead keys, every key cooling, the v2 file cllama writes.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, TEST_FORWARD_HEADERS, type Harness } from '../helpers/harness.ts';
import { credentialOf } from '../helpers/fake-credentials.ts';
import { waitFor } from '../helpers/wait.ts';

const K0 = 'sk-pool-key-zero-000000';
const K1 = 'sk-pool-key-one-1111111';
const K2 = 'sk-pool-key-two-2222222';

/** providers.json v2: openai with the given keys (ids k0, k1, ...), anthropic with one key, both on the fake upstream. */
function v2File(keys: string[], extra: Record<string, unknown> = {}) {
  return (url: string) => ({
    version: 2,
    providers: {
      openai: {
        base_url: `${url}/v1`,
        auth: 'bearer',
        active_key_id: 'k0',
        forward_headers: TEST_FORWARD_HEADERS,
        keys: keys.map((secret, index) => ({ id: `k${index}`, label: index === 0 ? 'primary' : `backup-${index}`, secret, state: 'ready' })),
        ...extra,
      },
      anthropic: {
        base_url: `${url}/v1`,
        auth: 'x-api-key',
        forward_headers: TEST_FORWARD_HEADERS,
        keys: keys.map((secret, index) => ({ id: `a${index}`, secret, state: 'ready' })),
      },
    },
  });
}

const ask = { model: 'openai/gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 5 };

describe('provider key pools', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const start = async (keys: string[], options: { env?: Record<string, string>; extra?: Record<string, unknown> } = {}) => {
    h = await startHarness({ providersFile: v2File(keys, options.extra), env: options.env });
    return { h, client: new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 }) };
  };
  const keysSeen = (harness: Harness, from = 0) => harness.fake.requests.slice(from).map((request) => credentialOf(request.headers));
  const fileOf = (harness: Harness) => join(harness.root, 'auth', 'providers.json');
  const readFile = (harness: Harness) => JSON.parse(readFileSync(fileOf(harness), 'utf8'));
  const poolEvents = (harness: Harness) => harness.events.filter((event) => event.type === 'provider_pool');

  it('a 429 with Retry-After cools the key for that long, the next key answers, and later calls skip the cooling key', async () => {
    const { h, client } = await start([K0, K1]);
    h.fake.byKey = { [K0]: { status: 429, headers: { 'retry-after': '7' }, errorBody: { error: { message: 'Rate limit reached', type: 'requests' } } } };
    const before = Date.now();
    const answer = await client.chat.completions.create(ask);
    assert.equal(answer.choices[0].message.content, 'hello from fake upstream');
    await client.chat.completions.create(ask);
    assert.deepEqual(keysSeen(h), [K0, K1, K1], 'the cooling key is not tried again');
    await waitFor(() => poolEvents(h).length > 0, 'the provider_pool event');
    const [event] = poolEvents(h);
    assert.equal(event.provider, 'openai');
    assert.equal(event.key_id, 'k0');
    assert.equal(event.action, 'cooldown');
    assert.equal(event.reason, 'rate_limit');
    const until = Date.parse(String(event.cooldown_until));
    assert.ok(until >= Math.floor(before / 1000) * 1000 + 6000 && until <= Date.now() + 7000, `cooldown_until ${event.cooldown_until}`);
    await waitFor(() => readFile(h).providers.openai.keys[0].state === 'cooldown', 'the file to hold the cooldown');
    const key = readFile(h).providers.openai.keys[0];
    assert.equal(key.last_error_reason, 'rate_limit');
    assert.equal(statSync(fileOf(h)).mode & 0o777, 0o600);
    assert.ok(!JSON.stringify(h.events).includes(K0), 'no provider secret in any audit line');
  });

  it('a 401 kills the key (code, reason, time kept), the next key answers; cllama v2 fields in its order', async () => {
    const { h, client } = await start([K0, K1]);
    h.fake.byKey = { [K0]: { status: 401, errorBody: { error: { message: `Incorrect API key provided: ${K0}` } } } };
    await client.chat.completions.create(ask);
    await client.chat.completions.create(ask);
    assert.deepEqual(keysSeen(h), [K0, K1, K1]);
    await waitFor(() => readFile(h).providers.openai.keys[0].state === 'dead', 'the file to hold the dead key');
    const text = readFileSync(fileOf(h), 'utf8');
    assert.ok(!text.endsWith('\n'), 'no trailing newline, as cllama');
    const doc = JSON.parse(text);
    assert.equal(doc.version, 2);
    assert.deepEqual(Object.keys(doc.providers), ['anthropic', 'openai'], 'providers sorted by name');
    const openai = doc.providers.openai;
    assert.deepEqual(Object.keys(openai).slice(0, 5), ['base_url', 'auth', 'api_format', 'active_key_id', 'keys']);
    assert.deepEqual(openai.forward_headers, [...TEST_FORWARD_HEADERS], 'fields tollgate adds are kept');
    assert.equal(openai.active_key_id, 'k0', 'a death does not move the active key (cllama)');
    const dead = openai.keys[0];
    assert.deepEqual(Object.keys(dead), [
      'id',
      'label',
      'secret',
      'source',
      'state',
      'cooldown_until',
      'last_error_code',
      'last_error_reason',
      'last_error_at',
      'added_at',
    ]);
    assert.equal(dead.last_error_code, 401);
    assert.equal(dead.last_error_reason, 'http_401');
    assert.match(dead.last_error_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(openai.keys[1].state, 'ready');
    const event = poolEvents(h).find((candidate) => candidate.action === 'dead');
    assert.deepEqual({ provider: event?.provider, key_id: event?.key_id, reason: event?.reason }, { provider: 'openai', key_id: 'k0', reason: 'http_401' });
    assert.ok(!JSON.stringify(h.events).includes(K0.slice(0, 14)), 'the refused key is in no event, not even echoed by the upstream');
  });

  it('a quota 429 on the only key kills it: 502 no usable declared provider key, the upstream body never shown', async () => {
    const { h, client } = await start([K0]);
    h.fake.byKey = {
      [K0]: {
        status: 429,
        errorBody: { error: { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'insufficient_quota' } },
      },
    };
    const error = await client.chat.completions.create(ask).then(
      () => null,
      (caught: unknown) => caught as InstanceType<typeof OpenAI.APIError>,
    );
    assert.equal(error?.status, 502);
    assert.match(String(error?.message), /no usable declared provider key after retries/);
    assert.doesNotMatch(String(error?.message), /quota/);
    await waitFor(() => readFile(h).providers.openai.keys[0].state === 'dead', 'the dead key in the file');
    assert.equal(readFile(h).providers.openai.keys[0].last_error_reason, 'http_429');
    const again = await client.chat.completions.create(ask).then(
      () => null,
      (caught: { status?: number }) => caught.status,
    );
    assert.equal(again, 502);
    assert.equal(h.fake.requests.length, 1, 'a dead key is not sent again');
  });

  it('every key cooling: 503 with the exact time until the first is back; the SDK waits that long once and succeeds', async () => {
    const { h, client } = await start([K0, K1]);
    h.fake.byKey = { [K0]: { status: 429, headers: { 'retry-after-ms': '1500' } }, [K1]: { status: 429, headers: { 'retry-after-ms': '1200' } } };
    const refused = await client.chat.completions
      .create(ask)
      .withResponse()
      .then(
        () => null,
        (caught: unknown) => caught as InstanceType<typeof OpenAI.APIError>,
      );
    assert.equal(refused?.status, 503);
    assert.match(String(refused?.message), /all declared provider keys in cooldown/);
    const retryMs = Number(refused?.headers?.get('retry-after-ms'));
    assert.ok(retryMs > 0 && retryMs <= 1200, `retry-after-ms ${retryMs}: until k1 is back`);
    assert.equal(refused?.headers?.get('retry-after'), String(Math.ceil(retryMs / 1000)));
    const events = poolEvents(h);
    await waitFor(() => poolEvents(h).some((event) => event.action === 'pool_cooling'), 'the pool_cooling event');
    assert.ok(events.length >= 2);

    // both keys are back after their cooldown; a fresh burst of 429s on one: the SDK's retry honours the time given
    h.fake.byKey = { [K1]: { status: 429, headers: { 'retry-after-ms': '800' } } };
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const seenBefore = h.fake.requests.length;
    h.fake.byKey = { [K0]: { status: 429, headers: { 'retry-after-ms': '700' } }, [K1]: { status: 429, headers: { 'retry-after-ms': '900' } } };
    const patient = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 2 });
    const pending = patient.chat.completions.create(ask);
    await waitFor(() => h!.fake.requests.length >= seenBefore + 2, 'both keys refused');
    h.fake.byKey = {};
    const answer = await pending;
    assert.equal(answer.choices[0].message.content, 'hello from fake upstream');
    const refusedCalls = h.events.filter((event) => event.type === 'error' && event.status_code === 503).length;
    assert.equal(refusedCalls, 2, 'one 503 for the first call, one for the patient call: its single retry succeeded');
    assert.deepEqual(keysSeen(h, seenBefore), [K0, K1, K0], 'after the wait, the first key back answers');
  });

  it('Anthropic callers get the 503 in their own format with the same retry headers', async () => {
    const { h } = await start([K0]);
    h.fake.byKey = { [K0]: { status: 429, headers: { 'retry-after': '3' } } };
    const anthropic = new Anthropic({ baseURL: h.url, apiKey: h.token('a'), maxRetries: 0 });
    const error = await anthropic.messages.create({ model: 'claude-sonnet-4', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).then(
      () => null,
      (caught: unknown) => caught as InstanceType<typeof Anthropic.APIError>,
    );
    assert.equal(error?.status, 503);
    assert.equal((error?.error as { error?: { type?: string } })?.error?.type, 'overloaded_error');
    const retryMs = Number(error?.headers?.get('retry-after-ms'));
    assert.ok(retryMs > 2000 && retryMs <= 3000, `retry-after-ms ${retryMs}`);
  });

  it('count_tokens and the model list go through the pool too: a dead first key is judged, the next one answers', async () => {
    const { h, client } = await start([K0, K1]);
    h.fake.byKey = { [K0]: { status: 401, errorBody: { error: { message: `Incorrect API key provided: ${K0}` } } } };
    const anthropic = new Anthropic({ baseURL: h.url, apiKey: h.token('a'), maxRetries: 0 });
    const counted = await anthropic.messages.countTokens({ model: 'anthropic/claude-sonnet-4', messages: [{ role: 'user', content: 'count me' }] });
    assert.ok(counted.input_tokens > 0);
    assert.deepEqual(keysSeen(h), [K0, K1]);
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.ok(ids.includes('openai/gpt-5.6-terra'), `the provider's own list, fetched with the live key: ${ids.join(', ')}`);
    // both providers' lists are fetched: anthropic's dead key is skipped, openai's is tried once, judged, then K1
    assert.deepEqual(keysSeen(h, 2).sort(), [K1, K1, K0]);
    await waitFor(() => readFile(h).providers.openai.keys[0].state === 'dead', 'the dead key recorded for openai too');
    assert.equal(readFile(h).providers.anthropic.keys[0].state, 'dead');
  });

  it('five keys refused in one call is the most tried: the sixth is left for the next call', async () => {
    const keys = [K0, K1, K2, 'sk-pool-key-3333333333', 'sk-pool-key-4444444444', 'sk-pool-key-5555555555'];
    const { h, client } = await start(keys);
    h.fake.byKey = Object.fromEntries(keys.slice(0, 5).map((key) => [key, { status: 403 }]));
    const status = await client.chat.completions.create(ask).then(
      () => 200,
      (caught: { status?: number }) => caught.status,
    );
    assert.equal(status, 502);
    assert.equal(h.fake.requests.length, 5);
    assert.equal((await client.chat.completions.create(ask)).choices.length, 1);
    assert.deepEqual(keysSeen(h, 5), [keys[5]]);
  });
});
