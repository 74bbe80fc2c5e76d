// No overshoot under concurrency: 50 simultaneous requests against a USD limit that fits 10.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

describe('admission under concurrency', () => {
  let h: Harness;
  // each call: 10 input + 100 output tokens of gpt-4o = 1,025 micro-dollars; the estimate is a little higher
  const limitMicros = 11_500;
  before(async () => {
    h = await startHarness({ agents: { a: { budget: { limit_usd: limitMicros / 1e6, window: '1h', behavior: 'hard_stop' } } }, upstream: { delayMs: 30 } });
  });
  after(() => h.close());

  it('never spends past the limit and still admits what fits', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () =>
        client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }),
      ),
    );
    const admitted = results.filter((result) => result.status === 'fulfilled').length;
    const refused = results.filter((result) => result.status === 'rejected' && (result.reason as { status?: number }).status === 429).length;
    assert.equal(admitted + refused, 50, 'every request is either served or refused with 429');
    assert.ok(admitted >= 9, `at least 9 admitted, got ${admitted}`);
    await waitFor(() => h.historyLines('a').length === admitted, 'history of every admitted call');
    const spent = h.historyLines('a').reduce((sum, line) => sum + Number((line.usage as Record<string, number>).cost_micros), 0);
    assert.ok(spent <= limitMicros, `spent ${spent} µ$ must not exceed ${limitMicros} µ$`);
    assert.equal(h.fake.requests.length, admitted);
  });
});
