// A velocity spike escalates like a repeated call (alert, rate_limit, hard_stop) through the SDK; a steady agent never trips it.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { callOutcome, countingClient } from '../helpers/loop-calls.ts';

/** Every call a different question: no fingerprint repeats, only the rate can flag it. */
const ask = (client: OpenAI, i: number) =>
  client.chat.completions.create({ model: 'openai/gpt-4o', max_tokens: 20, messages: [{ role: 'user', content: `question number ${i}` }] });

describe('the velocity detector through the SDK (clock injected)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("a burst far above the agent's own rate is alerted, rate-limited, then stopped; an agent at a steady high rate never is", async () => {
    let now = Date.parse('2026-12-07T09:00:30Z');
    const loop = { action: 'hard_stop', escalate_after: 2, velocity_multiple: 5, velocity_min_rpm: 10 };
    h = await startHarness({ now: () => now, agents: { spiky: { budget: { loop } }, steady: { budget: { loop } } } });
    const spiky = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('spiky'), maxRetries: 0 });
    const steady = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('steady'), maxRetries: 0 });
    // 12 minutes: spiky at 2 calls a minute, steady at 30 (three times velocity_min_rpm), then steady keeps its pace
    for (let second = 0; second < 12 * 60; second += 2) {
      if (second % 30 === 0) assert.equal(await callOutcome(ask(spiky, second)), 'ok');
      assert.equal(await callOutcome(ask(steady, second)), 'ok');
      now += 2000;
    }
    // spiky's burst: 16 more calls in the minute it made 1 in: past 5 × its 2 a minute (and 10) from its 11th; the
    // SDK's retries on for the hard stop
    const burst: string[] = [];
    for (let i = 0; i < 16; i++) {
      const counted = countingClient({ baseURL: `${h.url}/v1`, apiKey: h.token('spiky'), maxRetries: i < 13 ? 0 : 2 });
      burst.push(await callOutcome(ask(counted.client, 10_000 + i)));
      assert.equal(counted.httpCalls(), 1, `burst call ${i}: one HTTP call`);
      now += 100;
    }
    assert.deepEqual(burst, [
      ...Array(11).fill('ok'),
      'loop_detected:true',
      'loop_detected:true',
      'loop_detected:false',
      'loop_detected:false',
      'loop_detected:false',
    ]);
    const events = h.events.filter((event) => event.type === 'loop_detected');
    assert.ok(
      events.every((event) => event.claw_id === 'spiky' && event.detector === 'velocity'),
      'steady was never flagged',
    );
    assert.deepEqual(
      events.filter((event) => event.alert).map((event) => event.action),
      ['alert', 'rate_limit', 'hard_stop'],
    );
  });
});
