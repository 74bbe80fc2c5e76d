// Key management on the UI port: cllama's form routes (303, its 400 messages), the token, cross-site refusals, /events, the admin API, the CLI, metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startHarness, TEST_FORWARD_HEADERS, type Harness } from '../helpers/harness.ts';
import { credentialOf } from '../helpers/fake-credentials.ts';
import { execFile } from 'node:child_process';
import { BIN } from '../helpers/process.ts';

/** Runs `tollgate <args>` as a process (no CLLAMA_UI_TOKEN from this environment). */
function runCliProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const TOKEN = 'ui-token-for-key-routes-0123';
const K0 = 'sk-test-key-1234-zero';
const K1 = 'sk-ui-key-one-11111111';

describe('key management routes', () => {
  let h: Harness;
  let ui: string;
  const file = () => JSON.parse(readFileSync(join(h.root, 'auth', 'providers.json'), 'utf8'));
  const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
    fetch(`${ui}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  const ask = (model = 'openai/gpt-4o') =>
    new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 }).chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
    });

  before(async () => {
    h = await startHarness({
      env: { CLLAMA_UI_TOKEN: TOKEN },
      providersFile: (url) => ({
        version: 2,
        providers: {
          openai: {
            base_url: `${url}/v1`,
            active_key_id: 'k0',
            forward_headers: TEST_FORWARD_HEADERS,
            keys: [
              { id: 'k0', label: 'primary', secret: K0, state: 'ready' },
              { id: 'k1', secret: K1, state: 'dead', last_error_code: 401, last_error_reason: 'http_401' },
            ],
          },
        },
      }),
    });
    ui = h.tollgate.uiUrl;
  });
  after(() => h.close());

  it('refuses without the token, from another site, and for other methods', async () => {
    const noToken = await post('/keys/add', { provider: 'openai', secret: 'sk-new-runtime-000000' }, {});
    assert.equal(noToken.status, 401);
    assert.equal(await noToken.text(), 'unauthorized\n');
    const wrong = await post('/keys/add', { provider: 'openai', secret: 'sk-new-runtime-000000' }, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    const evil = await post(
      '/keys/add',
      { provider: 'openai', secret: 'sk-new-runtime-000000' },
      { authorization: `Bearer ${TOKEN}`, origin: 'http://evil.example' },
    );
    assert.equal(evil.status, 403);
    const crossSite = await post('/keys/delete', { provider: 'openai', key_id: 'k0' }, { authorization: `Bearer ${TOKEN}`, 'sec-fetch-site': 'cross-site' });
    assert.equal(crossSite.status, 403);
    const get = await fetch(`${ui}/keys/add`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(get.status, 404);
    assert.equal(file().providers.openai.keys.length, 2, 'nothing changed');
  });

  it("cllama's 400 messages", async () => {
    const cases: [string, Record<string, string>, string][] = [
      ['/keys/add', { provider: 'openai' }, 'provider and secret are required'],
      ['/keys/add', { provider: 'nope', secret: 'x' }, 'unknown provider: "nope"'],
      ['/keys/activate', { provider: 'openai' }, 'provider and key_id are required'],
      ['/keys/activate', { provider: 'openai', key_id: 'zz' }, 'key "zz" not found in provider "openai"'],
      [
        '/providers/add',
        { name: 'openai', base_url: 'https://x.example/v1', auth: 'bearer', api_format: 'openai', secret: 's-123456789' },
        'provider "openai" already exists; use /keys/add to add keys to it',
      ],
      [
        '/providers/add',
        { name: 'm', base_url: 'not-a-url', auth: 'bearer', api_format: 'openai', secret: 's' },
        'base_url must be a valid http or https URL with a non-empty host',
      ],
      [
        '/providers/add',
        { name: 'm', base_url: 'https://m.example/v1', auth: 'Bearer', api_format: 'openai', secret: 's' },
        'auth must be one of: bearer, x-api-key, none',
      ],
      ['/providers/add', { name: 'm', base_url: 'https://m.example/v1', auth: 'bearer', api_format: 'openai' }, 'secret is required'],
    ];
    for (const [path, fields, message] of cases) {
      const answer = await post(path, fields);
      assert.equal(answer.status, 400, path);
      assert.equal(await answer.text(), `${message}\n`);
    }
  });

  it('add, disable, activate and delete keys: 303 to /, the file and the next calls follow', async () => {
    const added = await post('/keys/add', { provider: 'openai', label: 'extra', secret: 'sk-new-runtime-key-42' });
    assert.equal(added.status, 303);
    assert.equal(added.headers.get('location'), '/');
    const runtime = file().providers.openai.keys[2];
    assert.match(runtime.id, /^runtime:[0-9a-f]{8}$/);
    assert.deepEqual([runtime.label, runtime.source, runtime.state], ['extra', 'runtime', 'ready']);
    assert.equal(file().providers.openai.active_key_id, 'k0', 'the active key is unchanged');

    assert.equal((await post('/keys/disable', { provider: 'openai', key_id: 'k0' })).status, 303);
    assert.equal(file().providers.openai.keys[0].state, 'disabled');
    const before = h.fake.requests.length;
    await ask();
    assert.deepEqual(
      h.fake.requests.slice(before).map((request) => credentialOf(request.headers)),
      ['sk-new-runtime-key-42'],
      'disabled and dead keys skipped',
    );

    assert.equal((await post('/keys/activate', { provider: 'openai', key_id: 'k1' })).status, 303, 'a dead key revived by the operator');
    const revived = file().providers.openai;
    assert.equal(revived.active_key_id, 'k1');
    assert.deepEqual([revived.keys[1].state, revived.keys[1].cooldown_until, revived.keys[1].last_error_code], ['ready', '', 401], 'why it died is kept');
    await ask();
    assert.equal(credentialOf(h.fake.requests.at(-1)!.headers), K1);

    assert.equal((await post('/keys/delete', { provider: 'openai', key_id: 'k1' })).status, 303);
    assert.equal(file().providers.openai.active_key_id, undefined);
    assert.deepEqual(
      file().providers.openai.keys.map((key: { id: string }) => key.id),
      ['k0', runtime.id],
    );
    assert.equal((await post('/keys/activate', { provider: 'openai', key_id: 'k0' })).status, 303);
  });

  it('adds a provider from the form; calls route to it', async () => {
    const answer = await post('/providers/add', {
      name: 'Mistral',
      base_url: `${h.fake.url}/v1`,
      auth: 'bearer',
      api_format: 'openai',
      secret: 'msk-test-mistral-000',
    });
    assert.equal(answer.status, 303);
    const mistral = file().providers.mistral;
    assert.match(mistral.active_key_id, /^runtime:mistral:[0-9a-f]{8}$/);
    assert.deepEqual([mistral.keys[0].label, mistral.source], ['primary', 'runtime']);
    await ask('mistral/small');
    assert.equal(credentialOf(h.fake.requests.at(-1)!.headers), 'msk-test-mistral-000');
  });

  it("/events: cllama's dashboard state at once, keys masked, no secret anywhere", async () => {
    const controller = new AbortController();
    const response = await fetch(`${ui}/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: controller.signal });
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    assert.ok(text.startsWith('data:{'));
    const state = JSON.parse(text.slice('data:'.length, text.indexOf('\n\n')));
    const openai = state.providers.find((provider: { name: string }) => provider.name === 'openai');
    assert.equal(openai.keys[0].maskedSecret, 'sk-t...zero');
    assert.deepEqual(Object.keys(openai), ['name', 'baseURL', 'auth', 'maskedKey', 'activeKeyID', 'readyCount', 'cooldownCount', 'deadCount', 'keys']);
    for (const secret of [K0, K1, 'sk-new-runtime-key-42', 'msk-test-mistral-000']) assert.ok(!text.includes(secret));
  });

  it('the admin API, the CLI and the metrics show the pool, masked', async () => {
    const api = await (await fetch(`${ui}/api/providers`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
    const openai = api.providers.find((provider: { name: string }) => provider.name === 'openai');
    assert.equal(openai.keys[0].masked_secret, 'sk-t...zero');
    assert.ok(openai.keys.some((key: { requests: number }) => key.requests > 0));
    const cli = await runCliProcess(['keys', 'list', 'openai', '--json', '--url', ui, '--token', TOKEN]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(
      JSON.parse(cli.stdout).providers.map((provider: { name: string }) => provider.name),
      ['openai'],
    );
    const disable = await runCliProcess(['keys', 'disable', 'openai', 'k0', '--url', ui, '--token', TOKEN]);
    assert.equal(disable.code, 0, disable.stderr);
    assert.equal(file().providers.openai.keys[0].state, 'disabled');
    const refused = await runCliProcess(['keys', 'activate', 'openai', 'k0', '--url', ui]);
    assert.equal(refused.code, 1, 'no token: refused');
    const metrics = await (await fetch(`${ui}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    assert.match(metrics, /tollgate_provider_key_requests_total\{provider="openai",key_id="k0"\} \d+/);
    assert.match(metrics, /tollgate_provider_key_state\{provider="openai",key_id="k0",state="disabled"\} 1/);
    for (const text of [JSON.stringify(api), cli.stdout, metrics, JSON.stringify(h.events)]) for (const secret of [K0, K1]) assert.ok(!text.includes(secret));
  });
});
