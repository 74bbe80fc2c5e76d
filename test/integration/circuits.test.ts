// Circuits as an agent meets them: a failing candidate skipped after 5 failures, probed once after the cool-off, closed.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../helpers/wait.ts';
import OpenAI from 'openai';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';
import type { Behavior } from '../helpers/fake-upstream.ts';

const POLICY = {
  allowed: [
    { slot: 'primary', ref: 'openai/gpt-4o-mini' },
    { slot: 'fallback', ref: 'openai/gpt-4o' },
  ],
};

describe('circuits through the SDK', () => {
  let h: Harness | undefined;
  const open = async (options: HarnessOptions) => (h = await startHarness(options));
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  after(async () => h?.close());

  const ask = (harness: Harness) =>
    new OpenAI({ baseURL: `${harness.url}/v1`, apiKey: harness.token('a'), maxRetries: 0 }).chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 })
      .withResponse();
  const failing = (behavior: Behavior): HarnessOptions => ({ agents: { a: { modelPolicy: POLICY } }, upstream: { models: { 'gpt-4o-mini': behavior } } });
  const events = (harness: Harness, type: string) => harness.events.filter((event) => event.type === type);

  it('circuit: 5 failures open it (the primary is skipped), after the cool-off one probe closes it', async () => {
    const harness = await open({ ...failing({ status: 500 }), env: { TOLLGATE_CIRCUIT_COOL_OFF_MS: '400' } });
    for (let i = 0; i < 5; i++) assert.equal((await ask(harness)).data.model, 'gpt-4o');
    assert.equal(harness.fake.requests.filter((request) => request.body.model === 'gpt-4o-mini').length, 5);
    assert.equal((await ask(harness)).data.model, 'gpt-4o');
    assert.equal(harness.fake.requests.filter((request) => request.body.model === 'gpt-4o-mini').length, 5, 'skipped while open');
    assert.ok(harness.events.some((event) => event.intervention === 'circuit_open'));
    assert.ok(events(harness, 'circuit').some((event) => event.state === 'open'));
    assert.equal(harness.tollgate.deps.circuits.open().length, 1);
    harness.fake.behavior = {}; // the primary recovers
    await new Promise((resolve) => setTimeout(resolve, 450));
    assert.equal((await ask(harness)).data.model, 'gpt-4o-mini', 'the probe');
    await waitFor(() => events(harness, 'circuit').length === 3, 'the circuit closed event'); // audit lines follow the answer
    assert.deepEqual(
      events(harness, 'circuit').map((event) => event.state),
      ['open', 'half_open', 'closed'],
    );
    assert.equal((await ask(harness)).data.model, 'gpt-4o-mini');
    assert.equal(harness.tollgate.deps.circuits.open().length, 0);
  });

  it('every candidate open: 503 circuit_open with a Retry-After, nothing sent', async () => {
    const harness = await open({ agents: { a: { modelPolicy: POLICY } }, upstream: { status: 500 }, env: { TOLLGATE_CIRCUIT_FAILURES: '2' } });
    for (let i = 0; i < 2; i++) await assert.rejects(ask(harness), (error: unknown) => error instanceof OpenAI.APIError && error.status === 500);
    const sent = harness.fake.requests.length;
    await assert.rejects(ask(harness), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError);
      assert.equal(error.status, 503);
      assert.equal((error.error as { code: string }).code, 'circuit_open');
      assert.ok(Number(error.headers?.get('retry-after')) >= 1);
      return true;
    });
    assert.equal(harness.fake.requests.length, sent);
  });
});
