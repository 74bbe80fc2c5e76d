// cllama's auto-retry through the Responses adapter (spec-routing §1.8, cases 13-15): once, on the provider's word, never billed twice.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import type { Behavior } from '../helpers/fake-upstream.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

const behaviorHeader = (behavior: Behavior) => ({ 'x-fake-behavior': JSON.stringify(behavior) });
const USE_RESPONSES = { status: 400, message: "The model 'gpt-9-experimental' does not support chat completions; please use /v1/responses instead." };

describe('the auto-retry through the Responses adapter', () => {
  let h: Harness;
  let client: OpenAI;
  before(async () => {
    h = await startHarness({ agents: { a: { budget: { limit_usd: 10, window: '1h' } } } });
    client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
  });
  after(() => h.close());

  const since = (calls: number) => h.fake.requests.slice(calls).map((request) => request.path);
  const historyOf = async (marker: string) => {
    const find = () => h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes(marker));
    await waitFor(() => find() !== undefined);
    return find() as Record<string, unknown> & { usage: Record<string, number>; interventions?: string[] };
  };

  it('case 14: a 400 "use /v1/responses" is sent again through the adapter, and the agent gets the answer', async () => {
    const calls = h.fake.requests.length;
    const completion = await client.chat.completions.create(
      { model: 'openai/gpt-9-experimental', messages: [{ role: 'user', content: 'case fourteen' }], max_tokens: 50 },
      { headers: behaviorHeader({ onlyResponses: USE_RESPONSES, content: 'recovered', usage: { input: 12, output: 4 } }) },
    );
    assert.equal(completion.choices[0].message.content, 'recovered');
    assert.equal(completion.object, 'chat.completion');
    assert.deepEqual(since(calls), ['/v1/chat/completions', '/v1/responses']);
    const sent = h.fake.requests.at(-1)!;
    assert.equal(sent.body.model, 'gpt-9-experimental');
    assert.ok(Array.isArray(sent.body.input) && !('messages' in sent.body));
    assert.equal(sent.body.max_output_tokens, 50);
    const entry = await historyOf('case fourteen');
    assert.deepEqual([entry.usage.prompt_tokens, entry.usage.completion_tokens], [12, 4]);
    const interventions = h.events.filter((event) => event.type === 'intervention' && event.request_id === entry.request_id).map((event) => event.intervention);
    assert.ok(interventions.includes('responses_api_adapter_retry'), String(interventions));
    assert.ok(!interventions.includes('responses_api_adapter'), 'the retry is named as such, not as a proactive adapter call');
  });

  it('case 14 (404): "only supported in v1/responses" too; nothing is remembered: the next call tries chat first again', async () => {
    const only = {
      onlyResponses: { status: 404, message: 'This model is only supported in v1/responses and not in v1/chat/completions.' },
      content: 'recovered',
    };
    const calls = h.fake.requests.length;
    for (let round = 0; round < 2; round++) {
      const completion = await client.chat.completions.create(
        { model: 'openai/gpt-9-experimental', messages: [{ role: 'user', content: 'x' }] },
        { headers: behaviorHeader(only) },
      );
      assert.equal(completion.choices[0].message.content, 'recovered');
    }
    assert.deepEqual(since(calls), ['/v1/chat/completions', '/v1/responses', '/v1/chat/completions', '/v1/responses']);
  });

  it('a streaming agent gets the retried answer as a synthetic stream, its usage charged once', async () => {
    const calls = h.fake.requests.length;
    const stream = await client.chat.completions.create(
      { model: 'openai/gpt-9-experimental', messages: [{ role: 'user', content: 'streamed retry' }], stream: true, stream_options: { include_usage: true } },
      { headers: behaviorHeader({ onlyResponses: USE_RESPONSES, content: 'recovered stream', usage: { input: 7, output: 3 } }) },
    );
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, 'recovered stream');
    assert.deepEqual([usage?.prompt_tokens, usage?.completion_tokens], [7, 3]);
    assert.deepEqual(since(calls), ['/v1/chat/completions', '/v1/responses']);
    const entry = await historyOf('streamed retry');
    assert.deepEqual([entry.usage.prompt_tokens, entry.usage.completion_tokens], [7, 3]);
    const settled = () => h.events.filter((event) => event.type === 'response' && event.request_id === entry.request_id);
    await waitFor(() => settled().length > 0, 'response event'); // the audit line follows the answer's end
    assert.equal(settled().length, 1);
  });

  it('case 15: an unrelated 400 is relayed whole after one call, even past the 4096 bytes peeked', async () => {
    const calls = h.fake.requests.length;
    const long = `Unknown parameter: 'foo'. ${'x'.repeat(9000)} the end`;
    await assert.rejects(
      client.chat.completions.create(
        { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'x' }] },
        { headers: behaviorHeader({ status: 400, errorBody: { error: { message: long, type: 'invalid_request_error' } } }) },
      ),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.equal((error.error as { message: string }).message, long);
        return true;
      },
    );
    assert.deepEqual(since(calls), ['/v1/chat/completions']);
  });

  it('a signal beyond the first 4096 bytes is not one: the provider must say it up front', async () => {
    const calls = h.fake.requests.length;
    const late = { status: 400, message: `${'y'.repeat(5000)} use /v1/responses` };
    await assert.rejects(
      client.chat.completions.create(
        { model: 'openai/gpt-9-experimental', messages: [{ role: 'user', content: 'x' }] },
        { headers: behaviorHeader({ onlyResponses: late }) },
      ),
      (error: unknown) => error instanceof OpenAI.BadRequestError,
    );
    assert.deepEqual(since(calls), ['/v1/chat/completions']);
  });

  it('once only: a retried call that again says "use /v1/responses" is relayed, never looped', async () => {
    const calls = h.fake.requests.length;
    const both = { status: 400, errorBody: { error: { message: 'please use /v1/responses', type: 'invalid_request_error' } } };
    await assert.rejects(
      client.chat.completions.create({ model: 'openai/gpt-9-experimental', messages: [{ role: 'user', content: 'x' }] }, { headers: behaviorHeader(both) }),
      (error: unknown) => error instanceof OpenAI.BadRequestError,
    );
    assert.deepEqual(since(calls), ['/v1/chat/completions', '/v1/responses']);
  });

  it("a body the Responses API cannot take (n: 2) gets the adapter's 400 after the signal, and no second call", async () => {
    const calls = h.fake.requests.length;
    await assert.rejects(
      client.chat.completions.create(
        { model: 'openai/gpt-9-experimental', n: 2, messages: [{ role: 'user', content: 'x' }] },
        { headers: behaviorHeader({ onlyResponses: USE_RESPONSES }) },
      ),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.match((error.error as { message: string }).message, /n must be 1 for models routed through the Responses API/);
        return true;
      },
    );
    assert.deepEqual(since(calls), ['/v1/chat/completions']);
  });

  it('case 15: /v1/messages is never retried through the adapter', async () => {
    const anthropic = new Anthropic({ baseURL: h.url, apiKey: h.token('a'), maxRetries: 0 });
    const calls = h.fake.requests.length;
    await assert.rejects(
      anthropic.messages.create(
        { model: 'anthropic/claude-sonnet-4', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] },
        {
          headers: behaviorHeader({
            status: 400,
            errorBody: { type: 'error', error: { type: 'invalid_request_error', message: 'please use /v1/responses.' } },
          }),
        },
      ),
      (error: unknown) => error instanceof Anthropic.BadRequestError,
    );
    assert.deepEqual(since(calls), ['/v1/messages']);
  });
});

describe('the auto-retry against an upstream that stalls its refusal', () => {
  it('a 400 whose body stops after a few bytes is peeked for the idle timeout only, then left to the relay: no hang', async () => {
    const h = await startHarness({ env: { CLLAMA_STREAM_IDLE_TIMEOUT_MS: '300' } });
    try {
      const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
      const stalled = {
        status: 400,
        rawBody: '{"error":{"message":"please use /v1/responses"}}',
        rawContentType: 'application/json',
        pieces: { seed: 7, maxBytes: 6, gapMs: 120_000 },
      };
      const outcome = await client.chat.completions
        .create({ model: 'openai/gpt-9-experimental', stream: true, messages: [{ role: 'user', content: 'x' }] }, { headers: behaviorHeader(stalled) })
        .then(
          async (stream) => {
            for await (const _ of stream) void _;
            return 'ended';
          },
          (error: unknown) => (error instanceof OpenAI.APIError ? error.status : String(error)),
        )
        .catch((error: unknown) => `cut: ${String(error)}`);
      assert.notEqual(outcome, 'ended', 'a stalled refusal is no answer');
      assert.deepEqual(
        h.fake.requests.map((request) => request.path),
        ['/v1/chat/completions'],
        'the head never said "use /v1/responses" in time: no retry',
      );
    } finally {
      await h.close();
    }
  });
});

describe('the auto-retry with the adapter switched off (a difference from cllama)', () => {
  it('CLLAMA_RESPONSES_API_DISABLED covers the retry too: the 400 is relayed after one call', async () => {
    const h = await startHarness({ env: { CLLAMA_RESPONSES_API_DISABLED: '1' } });
    try {
      const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
      await assert.rejects(
        client.chat.completions.create(
          { model: 'openai/gpt-9-experimental', messages: [{ role: 'user', content: 'x' }] },
          { headers: behaviorHeader({ onlyResponses: USE_RESPONSES }) },
        ),
        (error: unknown) => error instanceof OpenAI.BadRequestError,
      );
      assert.deepEqual(
        h.fake.requests.map((request) => request.path),
        ['/v1/chat/completions'],
      );
    } finally {
      await h.close();
    }
  });
});

describe('failover on an adapter reply that failed (case 13)', () => {
  it('a failed Responses object moves to the fallback: 200 from it, one call each, provider_candidate_fallback:responses_adapter_error', async () => {
    const policy = {
      allowed: [
        { slot: 'primary', ref: 'openai/gpt-5.6-terra' },
        { slot: 'fallback', ref: 'openrouter/gpt-4o-mini' },
      ],
    };
    const h = await startHarness({
      agents: { a: { modelPolicy: policy, budget: { limit_usd: 10, window: '1h' } } },
      upstream: { models: { 'gpt-5.6-terra': { responseStatus: 'failed', usage: { input: 9, output: 0 } } } },
    });
    try {
      const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
      const completion = await client.chat.completions.create({ model: 'openai/gpt-5.6-terra', messages: [{ role: 'user', content: 'case thirteen' }] });
      assert.equal(completion.choices[0].message.content, 'hello from fake upstream');
      assert.deepEqual(
        h.fake.requests.map((request) => request.path),
        ['/v1/responses', '/v1/chat/completions'],
      );
      await waitFor(() => h.events.some((event) => event.type === 'failover'));
      const failover = h.events.find((event) => event.type === 'failover')!;
      assert.equal(failover.reason, 'responses_adapter_error');
      assert.ok(h.events.some((event) => event.type === 'intervention' && event.intervention === 'provider_candidate_fallback:responses_adapter_error'));
      // the failed attempt is charged what it reported (9 input tokens), once
      assert.ok(Number(failover.charged_micros) > 0, `charged ${failover.charged_micros}`);
    } finally {
      await h.close();
    }
  });
});
