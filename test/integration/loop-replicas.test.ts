// A looping agent whose calls a load balancer spreads over 3 replicas sharing Redis is caught and escalated as on one process.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { callOutcome, countingClient, ESCALATION, toolLoop } from '../helpers/loop-calls.ts';
import { startReplicaFleet, type ReplicaFleet } from '../helpers/replica-fleet.ts';
import { waitFor } from '../unit/ledger/redis-test-support.ts';

describe('the loop breaker on 3 replicas sharing Redis', () => {
  let fake: FakeUpstream;
  let fleet: ReplicaFleet;
  const agent = `loop-${randomBytes(4).toString('hex')}`;

  before(async () => {
    fake = await startFakeUpstream();
    const loop = { same_tool_call: 3, escalate_after: 2, action: 'hard_stop', within: '10m' };
    fleet = await startReplicaFleet({ name: 'loop-replicas', agent, upstreamUrl: fake.url, metadata: { token: `${agent}:s`, budget: { loop } } });
  });
  after(async () => {
    await fleet?.close();
    await fake?.close();
  });

  it('calls spread round robin: alerted, then rate-limited, then stopped on every replica, one HTTP call per refusal', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 9; i++) {
      // rate-limited calls are made without retries (the SDK would wait out the 30 s retry-after); a hard stop with the
      // SDK's default retries, and must cost one HTTP call
      const { client, httpCalls } = countingClient({ baseURL: `${fleet.replicas[i % 3].url}/v1`, apiKey: `${agent}:s`, maxRetries: i < 6 ? 0 : 2 });
      outcomes.push(await callOutcome(toolLoop(client, i)));
      assert.equal(httpCalls(), 1, `call ${i}: one HTTP call`);
    }
    // each replica saw 3 of the 9 calls: judged alone, none would have gone past its first alert
    assert.deepEqual(outcomes, ESCALATION);
    assert.equal(fake.requests.length, 4, 'no refused call reached the upstream');
    // the episode's first flag and each new level are posted once across the replicas
    const loopAlerts = () => fleet.alerts.filter((alert) => alert.type === 'loop_detected');
    await waitFor('three loop alerts', async () => loopAlerts().length >= 3);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(
      loopAlerts().map((alert) => alert.action),
      ['alert', 'rate_limit', 'hard_stop'],
    );
    // a plain question is refused on any replica while the agent is stopped
    const plain = new OpenAI({ baseURL: `${fleet.replicas[1].url}/v1`, apiKey: `${agent}:s`, maxRetries: 0 });
    assert.equal(
      await callOutcome(plain.chat.completions.create({ model: 'openai/gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })),
      'loop_detected:false',
    );
    const auditLines = () =>
      fleet.replicas.flatMap((replica) =>
        replica
          .stdout()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      );
    // the audit lines reach the test through each replica's stdout pipe: wait for the last one
    await waitFor('8 loop_detected audit lines', async () => auditLines().filter((line) => line.type === 'loop_detected').length >= 8);
    const audit = auditLines();
    const lines = audit.filter((line) => line.type === 'loop_detected');
    assert.equal(lines.length, 8, 'calls 3 to 9 and the plain one, each on the replica that judged it');
    // a replica that saw the agent flagged waits for the verdict before reserving: of the 6 refused calls only the
    // first on its replica (call 5, on a replica whose last verdict was clean) was also admitted by the budget, then released
    const allowed = audit.filter((line) => line.type === 'budget_decision' && line.outcome === 'allow').length;
    assert.equal(allowed, 5, 'the 4 served calls and call 5');
    assert.ok(
      lines.every((line) => !JSON.stringify(line).includes('run_tests')),
      'hashes only',
    );
  });
});
