import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyError, type ErrorCode } from '../../../src/errors.ts';
import type { Provider } from '../../../src/upstream/provider.ts';
import { ProviderRegistry } from '../../../src/upstream/registry.ts';
import { resolveRoute, splitModel } from '../../../src/upstream/routing.ts';

const key = [{ id: 'k', label: 'primary', secret: 'sk' }];
const PROVIDERS: Record<string, Provider> = {
  openai: { name: 'openai', baseUrl: 'https://api.openai.com/v1', auth: 'bearer', apiFormat: 'openai', keys: key },
  anthropic: { name: 'anthropic', baseUrl: 'https://api.anthropic.com/v1', auth: 'x-api-key', apiFormat: 'anthropic', keys: key },
  openrouter: { name: 'openrouter', baseUrl: 'https://openrouter.ai/api/v1', auth: 'bearer', apiFormat: 'openai', keys: key },
  vercel: { name: 'vercel', baseUrl: 'https://ai-gateway.vercel.sh/v1', auth: 'bearer', apiFormat: 'openai', keys: key },
  ollama: { name: 'ollama', baseUrl: 'http://ollama:11434/v1', auth: 'none', apiFormat: 'openai', keys: [] },
  xai: { name: 'xai', baseUrl: 'https://api.x.ai/v1', auth: 'bearer', apiFormat: 'openai', keys: [] },
};

function registryOf(names: string[]): ProviderRegistry {
  return new ProviderRegistry(names.map((name) => PROVIDERS[name]));
}

const ALL = ['openai', 'anthropic', 'openrouter', 'vercel', 'ollama', 'xai'];
const CHAT = '/v1/chat/completions';
const MESSAGES = '/v1/messages';

type Expected = { provider: string; upstreamModel: string; url: string } | { code: ErrorCode; status: number; message: string };

const cases: Array<{ name: string; path: string; model: unknown; providers?: string[]; query?: string; expected: Expected }> = [
  {
    name: 'provider prefix stripped (spec case 7)',
    path: CHAT,
    model: 'openai/gpt-4o',
    expected: { provider: 'openai', upstreamModel: 'gpt-4o', url: 'https://api.openai.com/v1/chat/completions' },
  },
  {
    name: 'provider lower-cased',
    path: CHAT,
    model: 'OpenAI/gpt-4o',
    expected: { provider: 'openai', upstreamModel: 'gpt-4o', url: 'https://api.openai.com/v1/chat/completions' },
  },
  {
    name: 'split on the first slash only',
    path: CHAT,
    model: 'openrouter/anthropic/claude-sonnet-4',
    expected: { provider: 'openrouter', upstreamModel: 'anthropic/claude-sonnet-4', url: 'https://openrouter.ai/api/v1/chat/completions' },
  },
  {
    name: 'vercel keeps the vendor in the model',
    path: CHAT,
    model: 'vercel/anthropic/claude-sonnet-4.6',
    expected: { provider: 'vercel', upstreamModel: 'anthropic/claude-sonnet-4.6', url: 'https://ai-gateway.vercel.sh/v1/chat/completions' },
  },
  {
    name: 'query string copied',
    path: CHAT,
    model: 'openai/gpt-4o',
    query: 'api-version=1&x=2',
    expected: { provider: 'openai', upstreamModel: 'gpt-4o', url: 'https://api.openai.com/v1/chat/completions?api-version=1&x=2' },
  },
  {
    name: 'auth none needs no key',
    path: CHAT,
    model: 'ollama/llama3.1:8b',
    expected: { provider: 'ollama', upstreamModel: 'llama3.1:8b', url: 'http://ollama:11434/v1/chat/completions' },
  },
  {
    name: 'unregistered vendor falls back to openrouter with the full string',
    path: CHAT,
    model: 'meta-llama/llama-3-70b',
    expected: { provider: 'openrouter', upstreamModel: 'meta-llama/llama-3-70b', url: 'https://openrouter.ai/api/v1/chat/completions' },
  },
  {
    name: 'only openrouter configured: anthropic/ model goes there unchanged (spec case 10)',
    path: CHAT,
    model: 'anthropic/claude-sonnet-4',
    providers: ['openrouter'],
    expected: { provider: 'openrouter', upstreamModel: 'anthropic/claude-sonnet-4', url: 'https://openrouter.ai/api/v1/chat/completions' },
  },
  {
    name: 'anthropic-format provider on the chat route is bridged through openrouter',
    path: CHAT,
    model: 'Anthropic/claude-sonnet-4',
    expected: { provider: 'openrouter', upstreamModel: 'anthropic/claude-sonnet-4', url: 'https://openrouter.ai/api/v1/chat/completions' },
  },
  {
    name: 'anthropic-format without openrouter',
    path: CHAT,
    model: 'anthropic/claude-sonnet-4',
    providers: ['anthropic'],
    expected: {
      code: 'unknown_provider',
      status: 400,
      message: 'provider "anthropic" uses anthropic format but request is openai format; configure openrouter for format bridging',
    },
  },
  {
    name: 'unknown provider without openrouter (spec case 11; 400, cllama 502)',
    path: CHAT,
    model: 'unknown-provider/model',
    providers: ['openai'],
    expected: { code: 'unknown_provider', status: 400, message: 'unknown provider "unknown-provider"' },
  },
  {
    name: 'bare model (spec case 12; 400, cllama 502)',
    path: CHAT,
    model: 'gpt-4o',
    expected: { code: 'model_not_routable', status: 400, message: 'model must be provider-prefixed: <provider>/<model> (got "gpt-4o")' },
  },
  {
    name: 'empty provider part',
    path: CHAT,
    model: '/gpt-4o',
    expected: { code: 'model_not_routable', status: 400, message: 'model "/gpt-4o" names no provider before the "/": <provider>/<model>' },
  },
  {
    name: 'empty model part',
    path: CHAT,
    model: 'openai/',
    expected: { code: 'model_not_routable', status: 400, message: 'model "openai/" names no model after the "/": <provider>/<model>' },
  },
  { name: 'missing model (spec case 12)', path: CHAT, model: undefined, expected: { code: 'missing_model', status: 400, message: 'missing model' } },
  { name: 'empty model', path: CHAT, model: '', expected: { code: 'missing_model', status: 400, message: 'missing model' } },
  { name: 'blank model', path: CHAT, model: '   ', expected: { code: 'missing_model', status: 400, message: 'missing model' } },
  { name: 'non-string model', path: CHAT, model: 42, expected: { code: 'missing_model', status: 400, message: 'model must be a string, got number' } },
  { name: 'object model', path: MESSAGES, model: { id: 'x' }, expected: { code: 'missing_model', status: 400, message: 'model must be a string, got object' } },
  {
    name: 'registered provider without a key',
    path: CHAT,
    model: 'xai/grok-4',
    expected: { code: 'provider_not_configured', status: 502, message: 'provider auth not configured: "xai" has no usable key' },
  },
  {
    name: 'messages: bare model unchanged (spec case 8)',
    path: MESSAGES,
    model: 'claude-sonnet-4-20250514',
    expected: { provider: 'anthropic', upstreamModel: 'claude-sonnet-4-20250514', url: 'https://api.anthropic.com/v1/messages' },
  },
  {
    name: 'messages: anthropic/ prefix stripped (spec case 9)',
    path: MESSAGES,
    model: 'anthropic/claude-sonnet-4-20250514',
    expected: { provider: 'anthropic', upstreamModel: 'claude-sonnet-4-20250514', url: 'https://api.anthropic.com/v1/messages' },
  },
  {
    name: 'messages: prefix case-insensitive',
    path: MESSAGES,
    model: 'ANTHROPIC/claude-haiku-4-5',
    expected: { provider: 'anthropic', upstreamModel: 'claude-haiku-4-5', url: 'https://api.anthropic.com/v1/messages' },
  },
  {
    name: 'messages: query copied',
    path: MESSAGES,
    model: 'claude-haiku-4-5',
    query: 'beta=true',
    expected: { provider: 'anthropic', upstreamModel: 'claude-haiku-4-5', url: 'https://api.anthropic.com/v1/messages?beta=true' },
  },
  {
    name: 'messages: other prefix refused (400; cllama 502)',
    path: MESSAGES,
    model: 'openai/gpt-4o',
    expected: { code: 'invalid_request', status: 400, message: 'model must target anthropic on /v1/messages' },
  },
  {
    name: 'messages: openrouter prefix refused',
    path: MESSAGES,
    model: 'openrouter/anthropic/claude-sonnet-4',
    expected: { code: 'invalid_request', status: 400, message: 'model must target anthropic on /v1/messages' },
  },
  {
    name: 'messages: anthropic not configured',
    path: MESSAGES,
    model: 'claude-sonnet-4',
    providers: ['openai', 'openrouter'],
    expected: { code: 'provider_not_configured', status: 502, message: 'provider "anthropic" is not configured' },
  },
  { name: 'messages: missing model', path: MESSAGES, model: null, expected: { code: 'missing_model', status: 400, message: 'missing model' } },
  {
    name: 'unknown path',
    path: '/v1/embeddings',
    model: 'openai/x',
    expected: { code: 'not_found', status: 404, message: 'no model route for /v1/embeddings' },
  },
];

for (const { name, path, model, providers, query, expected } of cases) {
  test(`resolveRoute: ${name}`, () => {
    const input = { path, query: query ?? '', model, registry: registryOf(providers ?? ALL) };
    if ('code' in expected) {
      assert.throws(
        () => resolveRoute(input),
        (error: unknown) => {
          assert.ok(error instanceof ProxyError);
          assert.deepEqual({ code: error.code, status: error.status, message: error.message }, expected);
          return true;
        },
      );
      return;
    }
    const route = resolveRoute(input);
    assert.deepEqual({ provider: route.provider.name, upstreamModel: route.upstreamModel, url: route.url }, expected);
    assert.equal(route.requestedModel, model);
  });
}

test('the OpenRouter fallback needs an OpenRouter key too', () => {
  const keyless = new ProviderRegistry([{ ...PROVIDERS.openrouter, keys: [] }]);
  assert.throws(() => resolveRoute({ path: CHAT, query: '', model: 'meta-llama/x', registry: keyless }), { code: 'provider_not_configured' });
});

test('requestedModel is the name the agent sent in its normal form (what budgets, events and metrics see)', () => {
  for (const model of [' openai/gpt-4o ', 'openai/ gpt-4o', 'openai//gpt-4o']) {
    const route = resolveRoute({ path: CHAT, query: '', model, registry: registryOf(ALL) });
    assert.equal(route.requestedModel, 'openai/gpt-4o');
    assert.equal(route.upstreamModel, 'gpt-4o');
  }
  assert.throws(() => resolveRoute({ path: CHAT, query: '', model: 'openai/gpt-4o\u200b', registry: registryOf(ALL) }), { code: 'invalid_model_name' });
});

test('splitModel', () => {
  assert.deepEqual(splitModel('OpenAI/gpt-4o'), { provider: 'openai', model: 'gpt-4o' });
  assert.deepEqual(splitModel('a/b/c'), { provider: 'a', model: 'b/c' });
  for (const bad of ['gpt-4o', '/x', 'x/', '']) assert.equal(splitModel(bad), null, bad);
});

test('ProviderRegistry: get, has and list, case-insensitive', () => {
  const registry = registryOf(['openai', 'ollama']);
  assert.equal(registry.get('OPENAI'), PROVIDERS.openai);
  assert.equal(registry.has('ollama'), true);
  assert.equal(registry.has('anthropic'), false);
  assert.equal(registry.get('anthropic'), undefined);
  assert.deepEqual(
    registry.list().map((p) => p.name),
    ['openai', 'ollama'],
  );
});
