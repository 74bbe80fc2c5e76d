import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyError } from '../../../src/errors.ts';
import {
  candidateRefs,
  defaultRef,
  failoverRefs,
  failoverUnreachable,
  parseModelPolicy,
  allowedRefs,
  type ModelPolicy,
  type AllowedModel,
} from '../../../src/upstream/model-policy.ts';
import { routeWithPolicy } from '../../../src/upstream/policy-routes.ts';
import type { Provider } from '../../../src/upstream/provider.ts';
import { ProviderRegistry } from '../../../src/upstream/registry.ts';

const key = [{ id: 'k', label: 'primary', secret: 'sk' }];
const PROVIDERS: Record<string, Provider> = {
  openai: { name: 'openai', baseUrl: 'https://api.openai.com/v1', auth: 'bearer', apiFormat: 'openai', keys: key },
  anthropic: { name: 'anthropic', baseUrl: 'https://api.anthropic.com/v1', auth: 'x-api-key', apiFormat: 'anthropic', keys: key },
  openrouter: { name: 'openrouter', baseUrl: 'https://openrouter.ai/api/v1', auth: 'bearer', apiFormat: 'openai', keys: key },
};
const registry = (names = ['openai', 'anthropic', 'openrouter']) => new ProviderRegistry(names.map((name) => PROVIDERS[name]));

function policy(allowed: AllowedModel[], mode = ''): ModelPolicy {
  return { mode, allowed, file: 'metadata.json' };
}
const P = (ref: string): AllowedModel => ({ slot: 'primary', ref });
const F = (ref: string): AllowedModel => ({ slot: 'fallback', ref });
const S = (slot: string, ref: string): AllowedModel => ({ slot, ref });

test('default ref: first primary (any case) with a ref, else the first ref', () => {
  assert.equal(defaultRef(policy([F('openai/a'), S('PRIMARY', 'openai/b')])), 'openai/b');
  assert.equal(defaultRef(policy([S('primary', ' '), F('openai/a'), P('openai/c')])), 'openai/c');
  assert.equal(defaultRef(policy([S('cheap', 'openai/x'), F('openai/a')])), 'openai/x');
  assert.equal(defaultRef(policy([S('primary', '')])), '');
});

test('failover order: the first primary entry, then every fallback in order, de-duplicated; other slots never', () => {
  assert.deepEqual(failoverRefs(policy([P('openai/a'), F('openai/b'), S('cheap', 'openai/c'), F('openai/d'), F('openai/b')])), [
    'openai/a',
    'openai/b',
    'openai/d',
  ]);
  // cllama: the first primary entry decides; an empty ref there means no primary in the list
  assert.deepEqual(failoverRefs(policy([S('primary', ''), P('openai/a'), F('openai/b')])), ['openai/b']);
  assert.deepEqual(allowedRefs(policy([P(' openai/a '), F('openai/a'), S('x', '')])), ['openai/a']);
});

test('candidates: the chosen ref and the failover list after it; outside the list, the chosen ref then the whole list', () => {
  const p = policy([P('openai/gpt-4o'), F('anthropic/claude-haiku-4-5'), S('cheap', 'openai/gpt-4o-mini')]);
  assert.deepEqual(candidateRefs(p, 'openai/gpt-4o-mini'), ['openai/gpt-4o-mini', 'openai/gpt-4o', 'anthropic/claude-haiku-4-5']);
  assert.deepEqual(candidateRefs(p, 'openai/gpt-4o'), ['openai/gpt-4o', 'anthropic/claude-haiku-4-5']);
  assert.deepEqual(candidateRefs(p, 'anthropic/claude-haiku-4-5'), ['anthropic/claude-haiku-4-5']);
  assert.equal(failoverUnreachable(p, ['anthropic/claude-haiku-4-5']), true);
  assert.equal(failoverUnreachable(policy([P('openai/a')]), ['openai/a']), false);
  assert.equal(
    failoverUnreachable(policy([P('openai/a'), S('secondary', 'openai/b')]), candidateRefs(policy([P('openai/a'), S('secondary', 'openai/b')]), 'openai/a')),
    true,
  );
});

const CHAT = '/v1/chat/completions';
const MESSAGES = '/v1/messages';
const mixed = policy([P('openai/gpt-4o'), F('openrouter/anthropic/claude-sonnet-4'), S('cheap', 'openai/gpt-4o-mini')]);

// [what, policy, path, requested model, chosen ref, reason, candidates as provider/upstream]
const CASES: Array<[string, ModelPolicy, string, unknown, string, string | null, string[]]> = [
  ['missing model → default', mixed, CHAT, undefined, 'openai/gpt-4o', 'missing', ['openai/gpt-4o', 'openrouter/anthropic/claude-sonnet-4']],
  ['empty string → default', mixed, CHAT, '  ', 'openai/gpt-4o', 'missing', ['openai/gpt-4o', 'openrouter/anthropic/claude-sonnet-4']],
  [
    'exact ref → itself',
    mixed,
    CHAT,
    'openai/gpt-4o-mini',
    'openai/gpt-4o-mini',
    null,
    ['openai/gpt-4o-mini', 'openai/gpt-4o', 'openrouter/anthropic/claude-sonnet-4'],
  ],
  [
    'bare model → its unique ref',
    mixed,
    CHAT,
    'gpt-4o-mini',
    'openai/gpt-4o-mini',
    'bare_model_normalized',
    ['openai/gpt-4o-mini', 'openai/gpt-4o', 'openrouter/anthropic/claude-sonnet-4'],
  ],
  [
    'bare last path segment',
    mixed,
    CHAT,
    'claude-sonnet-4',
    'openrouter/anthropic/claude-sonnet-4',
    'bare_model_normalized',
    ['openrouter/anthropic/claude-sonnet-4'],
  ],
  ['bare, no match → clamped', mixed, CHAT, 'gpt-5', 'openai/gpt-4o', 'disallowed_clamped', ['openai/gpt-4o', 'openrouter/anthropic/claude-sonnet-4']],
  [
    'bare, two matches → ambiguous',
    policy([P('openai/gpt-4o'), F('openrouter/gpt-4o')]),
    CHAT,
    'gpt-4o',
    'openai/gpt-4o',
    'ambiguous_clamped',
    ['openai/gpt-4o', 'openrouter/gpt-4o'],
  ],
  [
    'prefixed, other provider case → provider normalized',
    mixed,
    CHAT,
    'OpenAI/gpt-4o',
    'openai/gpt-4o',
    'provider_normalized',
    ['openai/gpt-4o', 'openrouter/anthropic/claude-sonnet-4'],
  ],
  [
    'prefixed via the OpenRouter bridge → provider normalized',
    mixed,
    CHAT,
    'anthropic/claude-sonnet-4',
    'openrouter/anthropic/claude-sonnet-4',
    'provider_normalized',
    ['openrouter/anthropic/claude-sonnet-4'],
  ],
  [
    'prefixed, not allowed → clamped',
    mixed,
    CHAT,
    'openai/o3',
    'openai/gpt-4o',
    'disallowed_clamped',
    ['openai/gpt-4o', 'openrouter/anthropic/claude-sonnet-4'],
  ],
  [
    'slashes collapsed before matching',
    mixed,
    CHAT,
    'openai//gpt-4o-mini',
    'openai/gpt-4o-mini',
    null,
    ['openai/gpt-4o-mini', 'openai/gpt-4o', 'openrouter/anthropic/claude-sonnet-4'],
  ],
  [
    'messages: bare → its anthropic ref',
    policy([P('anthropic/claude-sonnet-4'), F('anthropic/claude-haiku-4-5')]),
    MESSAGES,
    'claude-haiku-4-5',
    'anthropic/claude-haiku-4-5',
    'bare_model_normalized',
    ['anthropic/claude-haiku-4-5'],
  ],
  [
    'messages: disallowed → default',
    policy([P('anthropic/claude-sonnet-4'), F('anthropic/claude-haiku-4-5')]),
    MESSAGES,
    'claude-opus-4',
    'anthropic/claude-sonnet-4',
    'disallowed_clamped',
    ['anthropic/claude-sonnet-4', 'anthropic/claude-haiku-4-5'],
  ],
  [
    'messages: no provider normalization',
    policy([P('anthropic/claude-sonnet-4')]),
    MESSAGES,
    'Anthropic/claude-sonnet-4',
    'anthropic/claude-sonnet-4',
    'disallowed_clamped',
    ['anthropic/claude-sonnet-4'],
  ],
];

for (const [what, p, path, model, chosen, reason, candidates] of CASES) {
  test(`resolution: ${what}`, () => {
    const routed = routeWithPolicy({ policy: p, path, query: '', model, registry: registry(), agentId: 'a' });
    assert.equal(routed.resolution.chosenRef, chosen);
    assert.equal(routed.resolution.reason, reason);
    assert.deepEqual(
      routed.candidates.map((route) => `${route.provider.name}/${route.upstreamModel}`),
      candidates,
    );
    assert.equal(routed.candidates[0].requestedModel, chosen);
  });
}

test("messages: a candidate that is not anthropic/… fails the request with cllama's message", () => {
  assert.throws(
    () => routeWithPolicy({ policy: mixed, path: MESSAGES, query: '', model: 'gpt-4o', registry: registry(), agentId: 'a' }),
    (error: unknown) => {
      assert.ok(error instanceof ProxyError);
      assert.equal(error.code, 'model_policy_incompatible');
      assert.equal(error.status, 502);
      assert.equal(error.message, 'model policy requires anthropic-compatible provider on /v1/messages');
      return true;
    },
  );
});

test('an unroutable fallback fails the whole request, before anything is sent (cllama)', () => {
  const p = policy([P('openai/gpt-4o'), F('nosuch/model')]);
  assert.throws(
    () => routeWithPolicy({ policy: p, path: CHAT, query: '', model: 'openai/gpt-4o', registry: registry(['openai']), agentId: 'a' }),
    /unknown provider "nosuch"/,
  );
});

test('reject mode refuses disallowed and ambiguous models with 400; allowed, normalized and missing models pass', () => {
  const p = policy([P('openai/gpt-4o'), F('openrouter/gpt-4o')], 'Reject');
  for (const model of ['openai/o3', 'gpt-4o']) {
    assert.throws(
      () => routeWithPolicy({ policy: p, path: CHAT, query: '', model, registry: registry(), agentId: 'a' }),
      (error: unknown) => error instanceof ProxyError && error.code === 'model_not_allowed' && error.status === 400,
    );
  }
  for (const model of ['openai/gpt-4o', 'OPENAI/gpt-4o', undefined]) {
    assert.equal(routeWithPolicy({ policy: p, path: CHAT, query: '', model, registry: registry(), agentId: 'a' }).candidates[0].upstreamModel, 'gpt-4o');
  }
  // any other mode keeps clamping (cllama never reads the field)
  const clamp = policy([P('openai/gpt-4o')], 'strict');
  assert.equal(
    routeWithPolicy({ policy: clamp, path: CHAT, query: '', model: 'openai/o3', registry: registry(), agentId: 'a' }).resolution.reason,
    'disallowed_clamped',
  );
});

test('parse: typed as cllama reads it; wrong types make the policy invalid, null stands for absent', () => {
  assert.deepEqual(parseModelPolicy({ raw: undefined, file: 'f' }), { kind: 'none' });
  assert.deepEqual(parseModelPolicy({ raw: null, file: 'f' }), { kind: 'none' });
  const ok = parseModelPolicy({ raw: { mode: 'clamp', allowed: [{ slot: 'primary', ref: 'openai/x' }, null] }, file: 'f' });
  assert.equal(ok.kind, 'policy');
  const bad = parseModelPolicy({ raw: { mode: 1, allowed: [{ slot: 'primary', ref: 5 }] }, file: 'f', prefix: 'model_policy.' });
  assert.deepEqual(bad, { kind: 'invalid', file: 'f', problems: ['model_policy.mode: must be a string', 'model_policy.allowed[0].ref: must be a string'] });
  assert.equal(parseModelPolicy({ raw: { allowed: {} }, file: 'f' }).kind, 'invalid');
  assert.equal(parseModelPolicy({ raw: 'x', file: 'f' }).kind, 'invalid');
});
