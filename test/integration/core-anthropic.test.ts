// Anthropic route end to end: the official @anthropic-ai/sdk (x-api-key and bearer auth) → tollgate → fake upstream.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, PROVIDER_KEYS, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

describe('Anthropic messages through the proxy', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: {} } });
  });
  after(() => h.close());

  it('accepts the SDK default x-api-key auth and swaps in the provider key', async () => {
    const client = new Anthropic({ baseURL: h.url, apiKey: h.token('a'), maxRetries: 0 });
    const message = await client.messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 60, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(message.content[0].type, 'text');
    const seen = h.fake.requests.at(-1)!;
    assert.equal(seen.path, '/v1/messages');
    assert.equal(seen.headers['x-api-key'], PROVIDER_KEYS.anthropic);
    assert.equal(seen.headers.authorization, undefined);
    assert.ok(seen.headers['anthropic-version'], 'anthropic-version forwarded');
    assert.equal(seen.body.model, 'claude-sonnet-4-20250514');
  });

  it('accepts bearer auth and strips an anthropic/ prefix', async () => {
    const client = new Anthropic({ baseURL: h.url, authToken: h.token('a'), apiKey: null, maxRetries: 0 });
    await client.messages.create({ model: 'anthropic/claude-sonnet-4-20250514', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(h.fake.requests.at(-1)!.body.model, 'claude-sonnet-4-20250514');
  });

  it('streams events unchanged and meters input from message_start and output from message_delta', async () => {
    const client = new Anthropic({ baseURL: h.url, apiKey: h.token('a'), maxRetries: 0 });
    h.fake.behavior = { usage: { input: 140, output: 45 } };
    try {
      const stream = client.messages.stream({ model: 'claude-sonnet-4-20250514', max_tokens: 100, messages: [{ role: 'user', content: 'stream me' }] });
      const final = await stream.finalMessage();
      assert.equal(final.usage.output_tokens, 45);
    } finally {
      h.fake.behavior = {};
    }
    await waitFor(() => h.historyLines('a').some((line) => line.stream === true));
    const entry = h.historyLines('a').find((line) => line.stream === true)!;
    const usage = entry.usage as Record<string, number>;
    assert.equal(usage.prompt_tokens, 140);
    assert.equal(usage.completion_tokens, 45);
    assert.equal(usage.cost_micros, 1095);
  });

  it('answers errors in the Anthropic envelope', async () => {
    const bad = new Anthropic({ baseURL: h.url, apiKey: 'a:wrong', maxRetries: 0 });
    await assert.rejects(bad.messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 5, messages: [] }), (error: unknown) => {
      assert.ok(error instanceof Anthropic.AuthenticationError);
      const body = error.error as { type: string; error: { type: string } };
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'authentication_error');
      return true;
    });
    const response = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': h.token('a') }, body: '{oops' });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { type: string; error: { type: string } };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
  });

  it('refuses a non-anthropic prefix on /v1/messages', async () => {
    const client = new Anthropic({ baseURL: h.url, apiKey: h.token('a'), maxRetries: 0 });
    await assert.rejects(client.messages.create({ model: 'openai/gpt-4o', max_tokens: 5, messages: [] }), Anthropic.BadRequestError);
  });
});
