// The bytes-in-flight counter: an agent's share, the whole, the retry signals of each refusal, and nothing left behind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BytesInFlight } from '../../../src/transport/bytes-in-flight.ts';

describe('BytesInFlight', () => {
  it("refuses past an agent's share with 429 and past the whole with 503, adding nothing when it refuses", () => {
    const counter = new BytesInFlight({ maxBytes: 100, maxAgentBytes: 40 });
    const a1 = counter.hold('a');
    assert.equal(a1.take(30), null);
    const a2 = counter.hold('a');
    const agentRefusal = a2.take(20);
    assert.equal(agentRefusal?.code, 'agent_capacity_exhausted');
    assert.equal(agentRefusal?.status, 429);
    assert.deepEqual(agentRefusal?.headers, { 'retry-after': '1', 'retry-after-ms': '1000' });
    assert.deepEqual([counter.total, counter.heldBy('a'), a2.held], [30, 30, 0]);

    const others = ['b', 'c'].map((id) => counter.hold(id));
    for (const hold of others) assert.equal(hold.take(35), null);
    const globalRefusal = counter.hold('d').take(1);
    assert.equal(globalRefusal?.code, 'capacity_exhausted');
    assert.equal(globalRefusal?.status, 503);
    assert.equal(globalRefusal?.retryable, true);
    assert.equal(counter.total, 100);
  });

  it('a call larger than the share alone is told not to retry', () => {
    const counter = new BytesInFlight({ maxBytes: 100, maxAgentBytes: 40 });
    const hold = counter.hold('a');
    assert.equal(hold.take(30), null);
    const refusal = hold.take(20);
    assert.equal(refusal?.code, 'agent_capacity_exhausted');
    assert.deepEqual(refusal?.headers, { 'x-should-retry': 'false' });
  });

  it('release gives every byte back once, and an agent holding nothing leaves no entry', () => {
    const counter = new BytesInFlight({ maxBytes: 100, maxAgentBytes: 50 });
    const hold = counter.hold('a');
    hold.take(10);
    hold.take(15);
    hold.take(0);
    assert.equal(counter.heldBy('a'), 25);
    hold.release();
    hold.release();
    assert.deepEqual([counter.total, counter.heldBy('a'), hold.held], [0, 0, 0]);
    assert.equal(counter.hold('a').take(50), null, 'the whole share is free again');
  });
});

describe('ByteHold room and partial give', () => {
  it('room is what the share and the whole still allow; give returns part of a hold, never more than it holds', () => {
    const counter = new BytesInFlight({ maxBytes: 100, maxAgentBytes: 60 });
    const other = counter.hold('b');
    other.take(50);
    const hold = counter.hold('a');
    assert.equal(hold.room(), 50, 'the whole is the tighter bound');
    hold.take(30);
    assert.equal(hold.room(), 20);
    hold.give(10);
    assert.deepEqual([hold.held, counter.heldBy('a'), counter.total], [20, 20, 70]);
    hold.give(500);
    assert.deepEqual([hold.held, counter.heldBy('a'), counter.total], [0, 0, 50]);
    other.release();
    assert.equal(hold.room(), 60, 'the share is the tighter bound');
  });
});
