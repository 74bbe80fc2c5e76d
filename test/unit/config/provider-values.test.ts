import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateHeaderValue } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/config/config-error.ts';
import { loadProviders } from '../../../src/config/providers.ts';
import { ProviderRegistry } from '../../../src/upstream/registry.ts';
import { resolveRoute } from '../../../src/upstream/routing.ts';
import { upstreamRequestHeaders } from '../../../src/upstream/headers.ts';
import { seededRandom } from '../../helpers/random.ts';

const SEED = Number(process.env.IDENTITY_SEED ?? 20260611);

const BASE_URLS = [
  'https://api.example.com/v1',
  'https://api.example.com/v1/',
  'http://127.0.0.1:8080/proxy/v1///',
  'https://api.example.com',
  'https://api.example.com/v1?api-version=2024-01-01',
  'https://api.example.com/v1#frag',
  'https://api.example.com/v1?',
  'https://user:pa55w0rd-secret@api.example.com/v1',
  'https://token-secret@api.example.com/v1',
  'https://api.example.com/v 1',
  'https://api.example.com/v1\n',
  'https://api.example.com/v\t1',
  'ftp://api.example.com/v1',
  'not a url',
  'api.example.com/v1',
  '',
];
const KEYS = [
  'sk-good-key-0123456789',
  '  sk-padded-key-0123456789  ',
  'sk-new\nline-secret',
  'sk-carriage\r-secret',
  'sk-tab\there-secret',
  'sk-inner space-secret',
  'sk-ключ-secret',
  'sk-nul\u0000-secret',
  'sk-latin-é-secret',
  '',
];
const AUTHS = [undefined, 'bearer', 'x-api-key', 'none', 'BEARER', 'basic', 'hmac', 7, null];

/** Whatever loads is whole and usable: every route's URL ends in the request path and parses with no query, every key is a valid header value. */
function assertUsable(providers: ReturnType<typeof loadProviders>, label: string): void {
  const registry = new ProviderRegistry(providers);
  for (const provider of providers) {
    if (provider.apiFormat === 'anthropic') continue;
    let route;
    try {
      route = resolveRoute({ path: '/v1/chat/completions', query: '', model: `${provider.name}/m`, registry });
    } catch (error) {
      assert.equal((error as { code?: string }).code, 'provider_not_configured', `${label}: ${(error as Error).message}`);
      continue;
    }
    const url = new URL(route.url);
    assert.ok(
      url.pathname.endsWith('/chat/completions') && url.search === '' && url.hash === '' && url.username === '' && url.password === '',
      `${label}: ${route.url}`,
    );
    assert.equal(route.url, `${url.origin}${url.pathname}`, `${label}: the URL sent is the URL configured`);
    const headers = upstreamRequestHeaders({ incoming: {}, provider: route.provider, bodyLength: 2 });
    for (const [name, value] of Object.entries(headers)) assert.doesNotThrow(() => validateHeaderValue(name, value), `${label}: ${name}`);
  }
}

test(`providers.json and env, seeded (seed ${SEED}): a bad value stops start-up naming file and field or variable, never echoing a secret; what loads is whole`, () => {
  const random = seededRandom(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-providers-'));
  try {
    for (let i = 0; i < 300; i++) {
      const v2 = random() < 0.5;
      const name = pick(['openai', 'xai', 'custom', 'OpenRouter']);
      const baseUrl = pick(BASE_URLS);
      const key = pick(KEYS);
      const auth = pick(AUTHS);
      const entry: Record<string, unknown> = {};
      if (random() < 0.8 || name === 'custom') entry.base_url = baseUrl;
      if (auth !== undefined) entry.auth = auth;
      if (v2) entry.keys = [{ id: 'k1', secret: key, state: pick(['ready', 'dead', '']) }];
      else entry.api_key = key;
      writeFileSync(join(dir, 'providers.json'), JSON.stringify(v2 ? { version: 2, providers: { [name]: entry } } : { providers: { [name]: entry } }));
      const env: Record<string, string> = {};
      if (random() < 0.5) env.OPENAI_API_KEY = pick(KEYS);
      if (random() < 0.3) env.OPENAI_BASE_URL = pick(BASE_URLS);
      if (random() < 0.3) env.ANTHROPIC_API_KEY = pick(KEYS);
      const label = `case ${i}: ${JSON.stringify({ file: { [name]: entry }, env })}`;
      try {
        assertUsable(loadProviders({ authDir: dir, env }), label);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        for (const problem of error.problems) {
          assert.match(
            problem,
            /^(\/\S+providers\.json: (providers\.[\w ]+(\.keys\[\d+\])?\.\w+|providers\.\w+): |[A-Z_]+: )/,
            `${label}: names file and field or variable: ${problem}`,
          );
          for (const secret of [...KEYS, 'pa55w0rd-secret', 'token-secret'].filter((s) => s.trim().length > 3))
            assert.ok(!problem.includes(secret.trim()), `${label}: a secret in ${problem}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('base URLs that would misroute every call, and keys no header can carry, are refused at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-providers-'));
  const file = join(dir, 'providers.json');
  const problems = (json: unknown, env: Record<string, string> = {}) => {
    writeFileSync(file, JSON.stringify(json));
    try {
      loadProviders({ authDir: dir, env });
      return [];
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return [...error.problems];
    }
  };
  try {
    assert.deepEqual(problems({ providers: { openai: { base_url: 'https://h.example/v1?api-version=1', api_key: 'sk-k' } } }), [
      `${file}: providers.openai.base_url: must not have a query or fragment (the request path is appended to it)`,
    ]);
    assert.deepEqual(problems({ providers: { openai: { base_url: 'https://u:pw-secret@h.example/v1', api_key: 'sk-k' } } }), [
      `${file}: providers.openai.base_url: must not carry credentials (user:password@): the key goes in providers.json or the key variable`,
    ]);
    assert.deepEqual(problems({ providers: { openai: { api_key: 'sk-a\nb' } } }), [
      `${file}: providers.openai.api_key: must be printable ASCII without spaces or line breaks (it is sent in an HTTP header)`,
    ]);
    assert.deepEqual(
      problems({ version: 2, providers: { openai: { keys: [{ secret: 'sk-ok' }, { secret: 'sk-é' }, { secret: 'sk-\u0000', state: 'dead' }] } } }),
      [`${file}: providers.openai.keys[1].secret: must be printable ASCII without spaces or line breaks (it is sent in an HTTP header)`],
      'a dead key is never sent, so not checked',
    );
    assert.deepEqual(problems({}, { OPENAI_API_KEY: 'sk-a\nb', XAI_API_KEY: 'k', XAI_BASE_URL: 'https://x.example/v1#x' }), [
      'OPENAI_API_KEY: must be printable ASCII without spaces or line breaks (it is sent in an HTTP header)',
      'XAI_BASE_URL: must not have a query or fragment (the request path is appended to it)',
    ]);
    assert.deepEqual(
      problems({ providers: { openai: { base_url: 'https://h.example/proxy/v1//', api_key: '  sk-k  ' } } }),
      [],
      'a path and trailing slashes are fine; blanks around a key are trimmed',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
