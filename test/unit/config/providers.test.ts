import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/config/config-error.ts';
import { loadProviders } from '../../../src/config/providers.ts';
import type { Provider } from '../../../src/upstream/provider.ts';

async function withAuthDir(file: unknown, run: (authDir: string) => void | Promise<void>): Promise<void> {
  const authDir = await mkdtemp(join(tmpdir(), 'tollgate-auth-'));
  try {
    if (file !== undefined) await writeFile(join(authDir, 'providers.json'), typeof file === 'string' ? file : JSON.stringify(file));
    await run(authDir);
  } finally {
    await rm(authDir, { recursive: true, force: true });
  }
}

function byName(providers: Provider[]): Record<string, Provider> {
  return Object.fromEntries(providers.map((provider) => [provider.name, provider]));
}

/** What routing reads of a provider (the key pool's fields, declaredKeys and the rest, are checked on their own). */
function routing(provider: Provider): Partial<Provider> {
  const { declaredKeys: _keys, activeKeyId: _active, source: _source, keyStrategy: _strategy, ...rest } = provider;
  return rest;
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return [...error.problems];
  }
  assert.fail('expected a ConfigError');
}

test('no file and no env: no providers', () =>
  withAuthDir(undefined, (authDir) => {
    assert.deepEqual(loadProviders({ authDir, env: {} }), []);
  }));

test('env only: built-in defaults, keys in priority order with cllama ids and labels, base URL overrides', () =>
  withAuthDir(undefined, (authDir) => {
    const providers = byName(
      loadProviders({
        authDir,
        env: {
          OPENAI_API_KEY: 'sk-o0',
          OPENAI_API_KEY_1: ' sk-o1 ',
          OPENAI_API_KEY_2: 'sk-o2',
          ANTHROPIC_API_KEY_1: 'sk-a1',
          GEMINI_API_KEY: 'g0',
          GOOGLE_API_KEY: 'g2',
          AI_GATEWAY_API_KEY: 'v0',
          AI_GATEWAY_BASE_URL: 'https://gw.example/v1/',
          XAI_API_KEY: '   ',
          OPENROUTER_BASE_URL: 'https://or.example/api/v1',
        },
      }),
    );
    assert.deepEqual(Object.keys(providers).sort(), ['anthropic', 'google', 'openai', 'vercel']);
    assert.deepEqual(routing(providers.openai), {
      name: 'openai',
      baseUrl: 'https://api.openai.com/v1',
      auth: 'bearer',
      apiFormat: 'openai',
      keys: [
        { id: 'seed:OPENAI_API_KEY', label: 'primary', secret: 'sk-o0' },
        { id: 'seed:OPENAI_API_KEY_1', label: 'backup-1', secret: 'sk-o1' },
        { id: 'seed:OPENAI_API_KEY_2', label: 'backup-2', secret: 'sk-o2' },
      ],
    });
    assert.deepEqual(routing(providers.anthropic), {
      name: 'anthropic',
      baseUrl: 'https://api.anthropic.com/v1',
      auth: 'x-api-key',
      apiFormat: 'anthropic',
      keys: [{ id: 'seed:ANTHROPIC_API_KEY_1', label: 'backup-1', secret: 'sk-a1' }],
    });
    assert.deepEqual(
      providers.google.keys.map((k) => k.id),
      ['seed:GEMINI_API_KEY', 'seed:GOOGLE_API_KEY'],
    );
    // the key pool's view: cllama's seeded keys, ready, the first active
    assert.deepEqual(
      providers.openai.declaredKeys?.map((k) => [k.id, k.label, k.source, k.state]),
      [
        ['seed:OPENAI_API_KEY', 'primary', 'seed', 'ready'],
        ['seed:OPENAI_API_KEY_1', 'backup-1', 'seed', 'ready'],
        ['seed:OPENAI_API_KEY_2', 'backup-2', 'seed', 'ready'],
      ],
    );
    assert.equal(providers.openai.activeKeyId, 'seed:OPENAI_API_KEY');
    assert.equal(providers.anthropic.activeKeyId, 'seed:ANTHROPIC_API_KEY_1');
    assert.equal(providers.google.baseUrl, 'https://generativelanguage.googleapis.com/v1beta/openai');
    assert.equal(providers.vercel.baseUrl, 'https://gw.example/v1', 'trailing slash removed');
  }));

test('ollama (auth none) is registered from OLLAMA_BASE_URL without any key', () =>
  withAuthDir(undefined, (authDir) => {
    assert.deepEqual(loadProviders({ authDir, env: { OLLAMA_BASE_URL: 'http://localhost:11434/v1/' } }).map(routing), [
      { name: 'ollama', baseUrl: 'http://localhost:11434/v1', auth: 'none', apiFormat: 'openai', keys: [] },
    ]);
  }));

test('v1 file: defaults per provider, names lower-cased/trimmed, custom providers, file wins over env', () =>
  withAuthDir(
    {
      providers: {
        ' OpenAI ': { api_key: 'sk-file' },
        anthropic: { api_key: 'sk-ant', base_url: 'http://127.0.0.1:9/v1/' },
        ollama: { base_url: 'http://gpu:11434/v1' },
        mycorp: { base_url: 'https://llm.corp/v1', api_key: 'k', auth: 'X-API-KEY', api_format: 'anthropic', unknown_field: true },
        xai: { api_key: '' },
      },
    },
    (authDir) => {
      const providers = byName(
        loadProviders({
          authDir,
          env: { OPENAI_API_KEY: 'sk-env', OPENAI_BASE_URL: 'https://ignored.example/v1', XAI_API_KEY: 'sk-xai-env', OPENROUTER_API_KEY: 'sk-or' },
        }),
      );
      assert.deepEqual(routing(providers.openai), {
        name: 'openai',
        baseUrl: 'https://api.openai.com/v1',
        auth: 'bearer',
        apiFormat: 'openai',
        keys: [{ id: 'seed:OPENAI_API_KEY', label: 'primary', secret: 'sk-file' }],
      });
      assert.equal(providers.anthropic.baseUrl, 'http://127.0.0.1:9/v1');
      assert.equal(providers.anthropic.auth, 'x-api-key');
      assert.equal(providers.anthropic.apiFormat, 'anthropic');
      assert.deepEqual(routing(providers.ollama), { name: 'ollama', baseUrl: 'http://gpu:11434/v1', auth: 'none', apiFormat: 'openai', keys: [] });
      assert.deepEqual(routing(providers.mycorp), {
        name: 'mycorp',
        baseUrl: 'https://llm.corp/v1',
        auth: 'x-api-key',
        apiFormat: 'anthropic',
        keys: [{ id: 'seed:MYCORP_API_KEY', label: 'primary', secret: 'k' }],
      });
      assert.deepEqual(
        providers.xai.keys,
        [],
        'named in the file: env keys do not apply (cllama), and it stays registered so routing can say it is not configured',
      );
      assert.deepEqual(
        providers.openrouter.keys.map((k) => k.secret),
        ['sk-or'],
        'not named in the file: env applies',
      );
    },
  ));

test('v2 file: only ready keys and expired cooldowns are usable, active key first', () =>
  withAuthDir(
    {
      version: 2,
      providers: {
        openai: {
          active_key_id: 'k3',
          keys: [
            { id: 'k1', label: 'primary', secret: 's1', state: 'ready' },
            { id: 'k2', label: 'dead-one', secret: 's2', state: 'dead', last_error_code: 401 },
            { id: 'k3', label: 'cooled', secret: 's3', state: 'cooldown', cooldown_until: '2026-01-01T00:00:00Z' },
            { id: 'k4', label: 'cooling', secret: 's4', state: 'cooldown', cooldown_until: '2026-01-01T00:10:00Z' },
            { id: 'k5', secret: 's5', state: 'disabled' },
            { id: 'k6', secret: 's6', state: 'READY', cooldown_until: '0001-01-01T00:00:00Z' },
            { id: 'k7', secret: '', state: 'ready' },
          ],
        },
        anthropic: { keys: [{ id: 'only', secret: 'sa', state: 'dead' }] },
      },
    },
    (authDir) => {
      const providers = byName(loadProviders({ authDir, env: { ANTHROPIC_API_KEY: 'from-env' }, now: new Date('2026-01-01T00:05:00Z') }));
      assert.deepEqual(providers.openai.keys, [
        { id: 'k3', label: 'cooled', secret: 's3' },
        { id: 'k1', label: 'primary', secret: 's1' },
        { id: 'k6', label: 'k6', secret: 's6' },
      ]);
      assert.deepEqual(providers.anthropic.keys, [], 'dead key, and the file is authoritative over env');
      // the key pool gets every key with a secret, in file order, with its state (k7 has no secret)
      assert.deepEqual(
        providers.openai.declaredKeys?.map((k) => [k.id, k.state, k.cooldownUntil, k.lastErrorCode]),
        [
          ['k1', 'ready', null, 0],
          ['k2', 'dead', null, 401],
          ['k3', 'cooldown', Date.parse('2026-01-01T00:00:00Z'), 0],
          ['k4', 'cooldown', Date.parse('2026-01-01T00:10:00Z'), 0],
          ['k5', 'disabled', null, 0],
          ['k6', 'ready', Date.parse('0001-01-01T00:00:00Z'), 0],
        ],
      );
      assert.equal(providers.openai.activeKeyId, 'k3');
      assert.deepEqual(
        providers.anthropic.declaredKeys?.map((k) => k.state),
        ['dead'],
      );
    },
  ));

test('invalid files and fields: every problem names the file and the field, never a secret', () =>
  withAuthDir(
    {
      version: 2,
      providers: {
        openai: { base_url: 42, keys: [{ id: 'k', secret: 'sk-do-not-print', state: 'ready', cooldown_until: 'tomorrow' }, 'nope'] },
        anthropic: { auth: 'basic', api_format: 'grpc', keys: {} },
        custom: { keys: [] },
        weird: 'string',
        Dup: {},
        dup: {},
      },
    },
    (authDir) => {
      const file = join(authDir, 'providers.json');
      const problems = problemsOf(() => loadProviders({ authDir, env: { OPENAI_BASE_URL: 'ftp://nope' } }));
      const expected = [
        `${file}: providers.openai.base_url: must be a string`,
        `${file}: providers.openai.keys[0].cooldown_until: must be an RFC 3339 time, got "tomorrow"`,
        `${file}: providers.openai.keys[1]: must be an object`,
        `${file}: providers.anthropic.keys: must be an array`,
        `${file}: providers.anthropic.auth: must be one of "bearer", "x-api-key", "none", got "basic"`,
        `${file}: providers.anthropic.api_format: must be one of "openai", "anthropic", got "grpc"`,
        `${file}: providers.custom.base_url: required for "custom", which is not a built-in provider`,
        `${file}: providers.weird: must be an object`,
        `${file}: providers.dup: provider "dup" is declared twice (names are case-insensitive)`,
      ];
      for (const line of expected) assert.ok(problems.includes(line), `missing problem: ${line}\n got:\n${problems.join('\n')}`);
      assert.ok(problems.every((p) => !p.includes('sk-do-not-print')));
    },
  ));

const brokenFiles: Array<{ name: string; content: string; problem: RegExp }> = [
  { name: 'unparsable JSON', content: '{"providers": {"openai": {"api_key": "sk-secret-123"', problem: /providers\.json: not valid JSON/ },
  { name: 'empty file', content: '', problem: /providers\.json: not valid JSON \(the file is empty\)/ },
  { name: 'not an object', content: '[1,2]', problem: /providers\.json: must be a JSON object/ },
  { name: 'providers not an object', content: '{"providers": []}', problem: /providers\.json: providers: must be an object/ },
  { name: 'version not a number', content: '{"version": "2", "providers": {}}', problem: /providers\.json: version: must be a number/ },
  { name: 'bad base URL', content: '{"providers": {"openai": {"base_url": "not a url"}}}', problem: /providers\.openai\.base_url: must be an http/ },
];

for (const { name, content, problem } of brokenFiles) {
  test(`providers.json ${name} is a ConfigError`, () =>
    withAuthDir(content, (authDir) => {
      const problems = problemsOf(() => loadProviders({ authDir, env: {} }));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0], problem);
      assert.ok(!problems[0].includes('sk-secret-123'), 'the file content is never echoed');
    }));
}

test('a bad env base URL is a ConfigError naming the variable', () =>
  withAuthDir(undefined, (authDir) => {
    assert.deepEqual(
      problemsOf(() => loadProviders({ authDir, env: { XAI_API_KEY: 'k', XAI_BASE_URL: 'api.x.ai/v1' } })),
      ['XAI_BASE_URL: must be an http:// or https:// URL'],
    );
  }));
