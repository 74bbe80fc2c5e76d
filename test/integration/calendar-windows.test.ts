// Calendar and lifetime windows as an agent meets them, through the OpenAI SDK, with the proxy's clock moved by the test.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';

const BODY = { model: 'openai/gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 100 };
const ask = (client: OpenAI) => client.chat.completions.create(BODY);

/** The same call as raw HTTP, to read the refusal's whole body (the SDK's error keeps only its `error` object). */
async function refusal(harness: Harness): Promise<{ status: number; headers: Headers; budget: Record<string, unknown> }> {
  const response = await fetch(`${harness.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${harness.token('a')}`, 'content-type': 'application/json' },
    body: JSON.stringify(BODY),
  });
  const body = (await response.json()) as { budget: Record<string, unknown> };
  return { status: response.status, headers: response.headers, budget: body.budget };
}

describe('calendar and lifetime windows through the SDK', () => {
  let h: Harness | undefined;
  const open = async (options: HarnessOptions) => (h = await startHarness(options));
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  after(async () => h?.close());

  it('a month window in Europe/Paris refuses until midnight of the 1st there, with that exact reset, then admits again', async () => {
    // 31 March 2026, 23:00 in Paris (21:00 UTC, summer time); each call costs $0.001025, so $0.0025 admits two
    let now = Date.parse('2026-03-31T21:00:00Z');
    const harness = await open({ now: () => now, agents: { a: { budget: { limit_usd: 0.0025, window: 'month', timezone: 'Europe/Paris' } } } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    await ask(client);
    const second = await ask(client).withResponse();
    assert.equal(second.response.headers.get('x-tollgate-budget-reset-usd'), '1h0m0s', 'the window resets at midnight in Paris, an hour away');
    await assert.rejects(ask(client), OpenAI.RateLimitError);
    const refused = await refusal(harness);
    assert.equal(refused.status, 429);
    assert.equal(refused.budget.window, 'month');
    assert.equal(refused.budget.resets_at, '2026-03-31T22:00:00.000Z', 'the exact reset: 1 April 00:00 in Paris');
    assert.equal(refused.headers.get('retry-after'), '3600');
    now = Date.parse('2026-03-31T21:59:59.999Z');
    await assert.rejects(ask(client), OpenAI.RateLimitError, 'one millisecond before midnight in Paris it still refuses');
    now = Date.parse('2026-03-31T22:00:00.000Z');
    const fresh = await ask(client).withResponse();
    assert.equal(fresh.response.headers.get('x-tollgate-budget-remaining-usd'), '0.001467', 'April starts empty: only this call holds');
    assert.equal(harness.fake.requests.length, 3);
  });

  it("a day window follows the agent's metadata time zone when the policy names none", async () => {
    let now = Date.parse('2026-06-10T14:30:00Z'); // 23:30 in Tokyo
    const harness = await open({ now: () => now, agents: { a: { timezone: 'Asia/Tokyo', budget: { max_requests: 1, window: 'day' } } } });
    const client = new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    await ask(client);
    await assert.rejects(ask(client), OpenAI.RateLimitError);
    assert.equal((await refusal(harness)).budget.resets_at, '2026-06-10T15:00:00.000Z', 'midnight in Tokyo');
    now = Date.parse('2026-06-10T15:00:00Z');
    await ask(client);
  });

  it('a lifetime limit survives a restart and a journal rewrite, and never resets', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const options: HarnessOptions = { now: () => now, agents: { a: { budget: { limit_usd: 0.0025, window: 'lifetime' } } } };
    let harness = await open(options);
    const client = () => new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 });
    await ask(client());
    await ask(client());
    now += 60 * 86_400_000; // two months: past the 35 days the windows keep
    harness = h = await harness.restart();
    await assert.rejects(ask(client()), OpenAI.RateLimitError, 'the lifetime still holds both calls');
    const refused = await refusal(harness);
    assert.deepEqual([refused.budget.window, refused.budget.resets_at, refused.headers.get('x-should-retry')], ['lifetime', null, 'false']);
    harness = h = await harness.restart();
    await assert.rejects(ask(client()), OpenAI.RateLimitError, 'and again after the rewrite the restart did');
  });
});
