// A model-scoped limit cannot be dodged by writing the model another way: spaces, doubled slashes, invisible characters.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/harness.ts';

const scoped = (models: string[]) => ({ limits: [{ max_requests: 2, window: '1h', models }] });

describe('model name variants against a model-scoped limit', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: { budget: scoped(['openai/gpt-4o*']) }, c: { budget: scoped(['claude-sonnet*']) } } });
  });
  after(() => h.close());

  it('OpenAI route: variants route as the one name, count against its limit, and are refused with it', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
    const ask = (model: string) => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    await ask('openai/ gpt-4o');
    await ask('openai//gpt-4o');
    assert.deepEqual(
      h.fake.requests.map((request) => request.body.model),
      ['gpt-4o', 'gpt-4o'],
      'upstream saw the one name',
    );
    for (const variant of ['openai/gpt-4o', 'openai/ gpt-4o', 'openai//gpt-4o', ' openai / gpt-4o ', 'OpenAI/gpt-4o', 'openai/\tgpt-4o-mini']) {
      await assert.rejects(ask(variant), (error: unknown) => error instanceof OpenAI.RateLimitError, `${JSON.stringify(variant)} is held to the scoped limit`);
    }
    for (const variant of ['openai/gpt-4o\u200b', 'openai/gpt\u200d-4o', 'openai/\u2060gpt-4o', 'openai/gpt-4o\u0000x']) {
      await assert.rejects(
        ask(variant),
        (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'invalid_model_name' && error.param === 'model',
        JSON.stringify(variant),
      );
    }
    assert.equal(h.fake.requests.length, 2, 'no variant reached the upstream past the limit');
  });

  it('Anthropic route: a bare model pattern holds against spaced and prefixed variants', async () => {
    const client = new Anthropic({ baseURL: h.url, apiKey: h.token('c'), maxRetries: 0 });
    const ask = (model: string) => client.messages.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    const before = h.fake.requests.length;
    await ask(' claude-sonnet-4-5 ');
    await ask('anthropic// claude-sonnet-4-5');
    assert.deepEqual(
      h.fake.requests.slice(before).map((request) => request.body.model),
      ['claude-sonnet-4-5', 'claude-sonnet-4-5'],
    );
    for (const variant of ['claude-sonnet-4-5', ' claude-sonnet-4-5', 'anthropic/ claude-sonnet-4-5']) {
      await assert.rejects(ask(variant), (error: unknown) => error instanceof Anthropic.RateLimitError, JSON.stringify(variant));
    }
    await assert.rejects(ask('claude-sonnet-4-5\ufeff'.padStart(20, '\u200b')), (error: unknown) => error instanceof Anthropic.BadRequestError);
    assert.equal(h.fake.requests.length, before + 2);
  });
});
