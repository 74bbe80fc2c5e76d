// GET /v1/models, POST /v1/messages/count_tokens and unknown /v1/ paths, with the official SDKs: listed, counted, never billed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startHarness, PROVIDER_KEYS, type Harness } from '../helpers/harness.ts';
import { FAKE_MODELS } from '../helpers/fake-bodies.ts';
import { waitFor } from '../helpers/wait.ts';

describe('agent routes that are no model call', () => {
  let h: Harness;
  before(async () => {
    // agent a has one request an hour: token counts and model lists must not use it up
    h = await startHarness({ agents: { a: { budget: { max_requests: 1, window: '1h', behavior: 'rate_limit' } } } });
  });
  after(() => h.close());

  it("lists the configured providers' models as provider/model, OpenAI's format, fetched with the provider key and cached", async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    for (const provider of ['openai', 'anthropic', 'openrouter']) {
      for (const model of FAKE_MODELS) assert.ok(ids.includes(`${provider}/${model}`), `${provider}/${model} listed`);
    }
    const fetches = h.fake.requests.filter((r) => r.path.startsWith('/v1/models'));
    assert.equal(fetches.length, 3, 'one fetch per provider');
    assert.equal(fetches.find((r) => r.headers.authorization === `Bearer ${PROVIDER_KEYS.openai}`)?.method, 'GET');
    assert.equal(fetches.find((r) => r.headers['x-api-key'] === PROVIDER_KEYS.anthropic)?.headers['anthropic-version'], '2023-06-01');
    assert.ok(
      fetches.every((r) => !JSON.stringify(r.headers).includes('secret-a')),
      'the agent token never goes upstream',
    );
    for await (const _ of client.models.list()) void _;
    assert.equal(h.fake.requests.filter((r) => r.path.startsWith('/v1/models')).length, 3, 'the second list comes from the cache');
  });

  it("answers in Anthropic's format to an Anthropic client, and refuses a bad token", async () => {
    const client = new Anthropic({ baseURL: h.url, apiKey: h.token('a'), maxRetries: 0 });
    const page = await client.models.list();
    assert.ok(page.data.some((model) => model.id === 'openai/gpt-4o' && model.type === 'model'));
    const stranger = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'a:wrong', maxRetries: 0 });
    await assert.rejects(stranger.models.list(), (error: unknown) => error instanceof OpenAI.AuthenticationError);
  });

  it('forwards count_tokens to Anthropic with the key swapped, answers as it answers, records it, bills nothing', async () => {
    const client = new Anthropic({ baseURL: h.url, apiKey: h.token('a'), maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: 'count these words please' }];
    for (let i = 0; i < 3; i++) {
      const counted = await client.messages.countTokens({ model: 'anthropic/claude-sonnet-4-5', messages });
      assert.equal(counted.input_tokens, Math.ceil(JSON.stringify(messages).length / 4));
    }
    const seen = h.fake.requests.filter((r) => r.path === '/v1/messages/count_tokens');
    assert.equal(seen.length, 3);
    assert.equal(seen[0].headers['x-api-key'], PROVIDER_KEYS.anthropic);
    assert.equal(seen[0].body.model, 'claude-sonnet-4-5');
    await waitFor(() => h.events.filter((e) => e.type === 'token_count').length === 3);
    const event = h.events.find((e) => e.type === 'token_count')!;
    assert.equal(event.claw_id, 'a');
    assert.equal(event.input_tokens, Math.ceil(JSON.stringify(messages).length / 4));
    assert.equal(event.cost_usd, undefined);
    assert.equal(h.historyText('a'), '', 'no history line: nothing billed');
    // the one request an hour is still there for a model call
    const completion = await new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 }).chat.completions.create({
      model: 'openai/gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
    });
    assert.equal(completion.choices[0].message.content, 'hello from fake upstream');
  });

  it("answers any other /v1/ path 404 in the caller's format, naming the path, without calling upstream", async () => {
    const calls = h.fake.requests.length;
    const embeddings = await fetch(`${h.url}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json' },
      body: '{"model":"openai/x","input":"a"}',
    });
    assert.equal(embeddings.status, 404);
    const openai = (await embeddings.json()) as { error: { message: string } };
    assert.match(openai.error.message, /\/v1\/embeddings/);
    const batches = await fetch(`${h.url}/v1/messages/batches`, { method: 'POST', headers: { 'x-api-key': h.token('a') } });
    assert.equal(batches.status, 404);
    const anthropic = (await batches.json()) as { type: string; error: { type: string; message: string } };
    assert.deepEqual([anthropic.type, anthropic.error.type], ['error', 'not_found_error']);
    assert.match(anthropic.error.message, /\/v1\/messages\/batches/);
    assert.equal(h.fake.requests.length, calls);
  });
});

describe('GET /v1/models when a provider cannot list its models', () => {
  it('falls back to the models the price table lists for it', async () => {
    const h = await startHarness({ providers: ['openai'], upstream: { status: 503 } });
    try {
      const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
      const ids: string[] = [];
      for await (const model of client.models.list()) ids.push(model.id);
      assert.ok(ids.includes('openai/gpt-4o'));
      assert.ok(ids.includes('openai/babbage'), "the table's list, not the provider's");
      assert.ok(ids.every((id) => id.startsWith('openai/')));
    } finally {
      await h.close();
    }
  });
});

describe('GET /v1/models under a model policy', () => {
  it('lists the allow list, each ref once, and nothing else; an agent without a policy still sees every provider', async () => {
    const allowed = [
      { slot: 'primary', ref: 'anthropic/claude-sonnet-4' },
      { slot: 'fallback', ref: 'openai/gpt-4o' },
      { slot: 'other', ref: 'anthropic/claude-sonnet-4' },
    ];
    const h = await startHarness({ agents: { a: { modelPolicy: { allowed } }, b: {} } });
    try {
      const listed = async (agent: string) => {
        const ids: string[] = [];
        for await (const model of new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token(agent), maxRetries: 0 }).models.list()) ids.push(model.id);
        return ids;
      };
      assert.deepEqual(await listed('a'), ['anthropic/claude-sonnet-4', 'openai/gpt-4o']);
      assert.equal(h.fake.requests.filter((r) => r.path.startsWith('/v1/models')).length, 0, "a policy's list needs no provider fetch");
      assert.ok((await listed('b')).includes('openrouter/gpt-4o'), "no policy: every provider's models");
    } finally {
      await h.close();
    }
  });
});
