// Model policy as an agent meets it through the SDKs: clamps, normalization, reject mode, the Anthropic route, central control.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

const POLICY = {
  mode: 'clamp',
  allowed: [
    { slot: 'primary', ref: 'openai/gpt-4o-mini' },
    { slot: 'fallback', ref: 'openai/gpt-4o' },
    { slot: 'cheap', ref: 'openrouter/meta-llama/llama-3-8b' },
  ],
};

describe('model policy through the SDKs', () => {
  let h: Harness | undefined;
  const open = async (options: HarnessOptions) => (h = await startHarness(options));
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  after(async () => h?.close());

  const chat = (harness: Harness, model: string | undefined) => {
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    return client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, temperature: 0.3 } as never).withResponse();
  };
  const interventions = (harness: Harness) => harness.events.filter((event) => event.type === 'intervention').map((event) => event.intervention);

  it('a disallowed model is clamped to the default: upstream sees only the model changed, the answer names the model used', async () => {
    const harness = await open({ agents: { a: { modelPolicy: POLICY } } });
    const { data, response } = await chat(harness, 'openai/o3');
    assert.equal(data.model, 'gpt-4o-mini', "the upstream's own model field");
    assert.equal(response.headers.get('x-tollgate-model'), 'openai/gpt-4o-mini');
    assert.equal(harness.fake.requests.length, 1);
    const sent = harness.fake.requests[0].body;
    assert.deepEqual({ ...sent, model: 'openai/o3' }, { model: 'openai/o3', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, temperature: 0.3 });
    assert.deepEqual(interventions(harness), ['disallowed_clamped']);
    const clamp = harness.events.find((event) => event.intervention === 'disallowed_clamped')!;
    assert.equal(clamp.model, 'openai/o3');
    assert.equal(clamp.to_model, 'openai/gpt-4o-mini');
  });

  it('a bare model resolves to its one allowed ref; a model naming two refs is ambiguous and clamped; an allowed one passes untouched', async () => {
    const harness = await open({ agents: { a: { modelPolicy: { allowed: [...POLICY.allowed, { slot: 'other', ref: 'openrouter/gpt-4o' }] } } } });
    await chat(harness, 'gpt-4o-mini');
    await chat(harness, 'gpt-4o'); // openai/gpt-4o and openrouter/gpt-4o
    await chat(harness, 'llama-3-8b'); // the last path segment of openrouter/meta-llama/llama-3-8b
    await chat(harness, 'openai/gpt-4o');
    await chat(harness, undefined);
    assert.deepEqual(
      harness.fake.requests.map((request) => request.body.model),
      ['gpt-4o-mini', 'gpt-4o-mini', 'meta-llama/llama-3-8b', 'gpt-4o', 'gpt-4o-mini'],
    );
    // openai/gpt-4o is the last failover ref: a request for it has one candidate (cllama warns so)
    assert.deepEqual(interventions(harness), ['bare_model_normalized', 'ambiguous_clamped', 'bare_model_normalized', 'policy_failover_unreachable', 'missing']);
  });

  it('a provider named differently is normalized (case, the OpenRouter bridge)', async () => {
    const harness = await open({
      agents: {
        a: {
          modelPolicy: {
            allowed: [
              { slot: 'primary', ref: 'openai/gpt-4o' },
              { slot: 'fallback', ref: 'openrouter/anthropic/claude-sonnet-4' },
            ],
          },
        },
      },
    });
    await chat(harness, 'OpenAI/gpt-4o');
    await chat(harness, 'anthropic/claude-sonnet-4');
    assert.deepEqual(
      harness.fake.requests.map((request) => request.body.model),
      ['gpt-4o', 'anthropic/claude-sonnet-4'],
    );
    assert.deepEqual(interventions(harness), ['provider_normalized', 'provider_normalized', 'policy_failover_unreachable']);
  });

  it('reject mode (a governance file): 400 in each wire format, nothing sent upstream', async () => {
    const harness = await open({ agents: { a: {} } });
    harness.writeModelPolicy('a', { mode: 'reject', allowed: [{ slot: 'primary', ref: 'anthropic/claude-sonnet-4' }] });
    await harness.tollgate.deps.modelPolicies.reload();
    await assert.rejects(chat(harness, 'openai/gpt-4o'), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal((error.error as { code: string }).code, 'model_not_allowed');
      assert.match(error.message, /not allowed by the model policy of agent "a"; allowed: anthropic\/claude-sonnet-4/);
      return true;
    });
    const anthropic = new Anthropic({ baseURL: harness.url, apiKey: harness.token('a'), maxRetries: 0 });
    await assert.rejects(
      anthropic.messages.create({ model: 'claude-opus-4', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
      (error: unknown) => {
        assert.ok(error instanceof Anthropic.BadRequestError);
        assert.equal((error.error as { type: string; error: { type: string } }).error.type, 'invalid_request_error');
        return true;
      },
    );
    assert.equal(harness.fake.requests.length, 0);
    const ok = await anthropic.messages.create({ model: 'claude-sonnet-4', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(ok.model, 'claude-sonnet-4');
  });

  it("the Anthropic route takes only anthropic candidates: bare names resolve, others are cllama's 502", async () => {
    const harness = await open({
      agents: {
        a: {
          modelPolicy: {
            allowed: [
              { slot: 'primary', ref: 'anthropic/claude-sonnet-4' },
              { slot: 'fallback', ref: 'anthropic/claude-haiku-4-5' },
            ],
          },
        },
        b: { modelPolicy: POLICY },
      },
    });
    const client = new Anthropic({ baseURL: harness.url, apiKey: harness.token('a'), maxRetries: 0 });
    const { data, response } = await client.messages
      .create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(data.model, 'claude-haiku-4-5');
    assert.equal(response.headers.get('x-tollgate-model'), 'anthropic/claude-haiku-4-5');
    await client.messages.create({ model: 'claude-opus-4', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(
      harness.fake.requests.map((request) => request.body.model),
      ['claude-haiku-4-5', 'claude-sonnet-4'],
    );
    const other = new Anthropic({ baseURL: harness.url, apiKey: harness.token('b'), maxRetries: 0 });
    await assert.rejects(other.messages.create({ model: 'claude-opus-4', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), (error: unknown) => {
      assert.ok(error instanceof Anthropic.InternalServerError);
      assert.equal(error.status, 502);
      assert.match(error.message, /model policy requires anthropic-compatible provider on \/v1\/messages/);
      return true;
    });
    assert.equal(harness.fake.requests.length, 2);
  });

  it('a governance model-policy.json overrides metadata without a restart; a pod file covers the pod', async () => {
    const harness = await open({ agents: { a: { modelPolicy: POLICY }, b: { pod: 'blue' } } });
    await chat(harness, 'openai/o3');
    assert.equal(harness.fake.requests.at(-1)?.body.model, 'gpt-4o-mini');
    harness.writeModelPolicy('a', { allowed: [{ slot: 'primary', ref: 'openai/gpt-4o' }] });
    mkdirSync(join(harness.root, 'governance', '_shared', 'model-policy'), { recursive: true });
    writeFileSync(
      join(harness.root, 'governance', '_shared', 'model-policy', 'blue.json'),
      JSON.stringify({ allowed: [{ slot: 'primary', ref: 'openai/gpt-4.1' }] }),
    );
    // picked up by the periodic rescan (no call to reload here)
    await waitFor(() => harness.tollgate.deps.modelPolicies.version > 0, 'the rescan');
    await chat(harness, 'openai/o3');
    assert.equal(harness.fake.requests.at(-1)?.body.model, 'gpt-4o');
    const b = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('b'), maxRetries: 0 });
    await b.chat.completions.create({ model: 'openai/o3', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 });
    assert.equal(harness.fake.requests.at(-1)?.body.model, 'gpt-4.1');
  });

  it('a wrongly typed policy refuses every call (403) instead of letting the agent call anything', async () => {
    const harness = await open({ agents: { a: { modelPolicy: { allowed: [{ slot: 'primary', ref: 42 }] } } } });
    await assert.rejects(
      chat(harness, 'openai/gpt-4o'),
      (error: unknown) => error instanceof OpenAI.PermissionDeniedError && (error.error as { code: string }).code === 'model_policy_invalid',
    );
    assert.equal(harness.fake.requests.length, 0);
  });

  it("history keeps cllama's fields and adds the routing: requested, effective, attempts", async () => {
    const harness = await open({ agents: { a: { modelPolicy: POLICY } } });
    await chat(harness, 'o3');
    const [entry] = harness.historyLines('a');
    assert.equal(entry.requested_model, 'o3');
    assert.equal(entry.effective_provider, 'openai');
    assert.equal(entry.effective_model, 'gpt-4o-mini');
    const routing = entry.routing as { requested_model: string; effective_model: string; resolution: string; attempts: Record<string, unknown>[] };
    assert.equal(routing.requested_model, 'o3');
    assert.equal(routing.effective_model, 'openai/gpt-4o-mini');
    assert.equal(routing.resolution, 'disallowed_clamped');
    assert.equal(routing.attempts.length, 1);
    assert.equal(routing.attempts[0].provider, 'openai');
    assert.equal(routing.attempts[0].model, 'gpt-4o-mini');
    assert.equal(routing.attempts[0].status_code, 200);
    assert.equal(typeof routing.attempts[0].latency_ms, 'number');
    assert.equal(typeof routing.attempts[0].charged_usd, 'number');
  });
});
