// Three tollgate processes sharing one Redis ledger hold one budget: 60 simultaneous calls against a limit that fits 10,
// and a threshold alert crossed on all three is posted once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { startReplicaFleet, type ReplicaFleet } from '../helpers/replica-fleet.ts';

describe('a session budget on 3 replicas sharing Redis', () => {
  let fake: FakeUpstream;
  let fleet: ReplicaFleet;
  const agent = `ses-${randomBytes(4).toString('hex')}`;
  // each call: 1,025 µ$; the session's 11,500 µ$ fits ten with their estimates; the agent's own $10 never binds
  const limitMicros = 11_500;

  before(async () => {
    fake = await startFakeUpstream({ delayMs: 20 });
    const budget = { limit_usd: 10, window: '1h', session: { limit_usd: limitMicros / 1e6, idle_ttl: '10m' } };
    fleet = await startReplicaFleet({ name: 'session-replicas', agent, upstreamUrl: fake.url, metadata: { token: `${agent}:s`, budget } });
  });
  after(async () => {
    await fleet?.close();
    await fake?.close();
  });

  it('200 concurrent calls of one session across 3 replicas: never past the session limit', async () => {
    const clients = fleet.replicas.map((replica) => new OpenAI({ baseURL: `${replica.url}/v1`, apiKey: `${agent}:s`, maxRetries: 0 }));
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) =>
        clients[i % 3].chat.completions.create(
          { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 },
          { headers: { 'x-tollgate-session': 'task-7' } },
        ),
      ),
    );
    const admitted = results.filter((result) => result.status === 'fulfilled').length;
    const refused = results.filter((result) => result.status === 'rejected' && (result.reason as { status?: number }).status === 429).length;
    // closed mode: on a loaded machine a reserve Redis answers after its 1 s timeout is a 503, never an admission
    const unavailable = results.filter((result) => result.status === 'rejected' && (result.reason as { status?: number }).status === 503).length;
    assert.equal(admitted + refused + unavailable, 200, 'every call served, or refused with 429 (or 503 closed)');
    assert.ok(admitted >= 1 && admitted <= 11, `admitted ${admitted}`);
    assert.equal(fake.requests.length, admitted);
    await Promise.all(fleet.replicas.map((replica) => replica.stop()));
    const spent = fleet.historyCost();
    assert.equal(spent.entries, admitted);
    assert.ok(spent.micros <= limitMicros, `spent ${spent.micros} µ$ must not exceed ${limitMicros} µ$`);
  });
});

describe('replicas sharing a Redis ledger', () => {
  let fake: FakeUpstream;
  let fleet: ReplicaFleet;
  const agent = `rep-${randomBytes(4).toString('hex')}`;
  // each call: 10 input + 100 output tokens of gpt-4o = 1,025 µ$; ten fit under 11,500 µ$ with their estimates
  const limitMicros = 11_500;

  before(async () => {
    fake = await startFakeUpstream({ delayMs: 30 });
    const budget = { limit_usd: limitMicros / 1e6, window: '1h', alerts: [0.5] };
    fleet = await startReplicaFleet({ name: 'replicas', agent, upstreamUrl: fake.url, metadata: { token: `${agent}:s`, budget } });
  });
  after(async () => {
    await fleet?.close();
    await fake?.close();
  });

  it('never spends past the shared limit', async () => {
    const clients = fleet.replicas.map((replica) => new OpenAI({ baseURL: `${replica.url}/v1`, apiKey: `${agent}:s`, maxRetries: 0 }));
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        clients[i % 3].chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }),
      ),
    );
    const admitted = results.filter((result) => result.status === 'fulfilled').length;
    const statusOf = (result: PromiseSettledResult<unknown>) => (result.status === 'fulfilled' ? 200 : (result.reason as { status?: number }).status);
    const refused = results.filter((result) => statusOf(result) === 429).length;
    // closed mode: on a loaded machine a reserve Redis answers after its 1 s timeout is a 503, never an admission
    const unavailable = results.filter((result) => statusOf(result) === 503).length;
    assert.equal(admitted + refused + unavailable, 60, `statuses ${JSON.stringify(results.map(statusOf))}`);
    // ten fit; a 503 may take an admission's place, and six still cross the 50% alert below
    assert.ok(admitted >= (unavailable > 0 ? 6 : 9), `admitted ${admitted}, ${unavailable} unavailable`);
    assert.equal(fake.requests.length, admitted);
    // every replica settled calls past 50% of the limit; the claim in Redis lets exactly one of them post the alert
    for (let waited = 0; !fleet.alerts.some((alert) => alert.type === 'budget_alert') && waited < 10_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    // a replica that also believed it crossed first would post at about the same moment: give it time to show
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await Promise.all(fleet.replicas.map((replica) => replica.stop()));
    // the 60 identical calls are also a loop by the default thresholds (20 in 10 minutes): counted across the replicas
    // (each saw 20), its first flag is posted once
    assert.equal(fleet.alerts.filter((alert) => alert.type === 'loop_detected').length, 1);
    const thresholds = fleet.alerts.filter((alert) => alert.type === 'budget_alert');
    assert.equal(thresholds.length, 1, `one alert for the shared threshold, got ${JSON.stringify(thresholds)}`);
    assert.equal(thresholds[0].threshold, 0.5);
    const spent = fleet.historyCost();
    assert.equal(spent.entries, admitted);
    assert.ok(spent.micros <= limitMicros, `spent ${spent.micros} µ$ must not exceed ${limitMicros} µ$`);
  });
});
