import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemorySharedState } from '../../../src/ledger/shared-state.ts';
import { Circuits } from '../../../src/pipeline/circuits.ts';
import type { CircuitEvent } from '../../../src/observability/event-types.ts';

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('5 failures in the window open it for the cool-off; then one probe; a failed probe reopens, a good one closes; replicas agree', async () => {
  let now = 1_000_000;
  const shared = new MemorySharedState({ now: () => now });
  const events: CircuitEvent[] = [];
  const a = new Circuits(shared, { now: () => now, onChange: (event) => events.push(event) });
  const b = new Circuits(shared, { now: () => now });
  for (let i = 0; i < 4; i++) await a.failed({ provider: 'openai', model: 'gpt-4o', probe: false });
  assert.deepEqual(await a.check('openai', 'gpt-4o'), { kind: 'closed' });
  await b.failed({ provider: 'openai', model: 'gpt-4o', probe: false }); // the fifth, counted by another replica
  await tick();
  assert.equal((await a.check('openai', 'gpt-4o')).kind, 'open');
  assert.equal((await b.check('openai', 'gpt-4o')).kind, 'open');
  assert.deepEqual(await a.check('openai', 'gpt-4o-mini'), { kind: 'closed' }, 'per model');
  now += 30_000;
  assert.equal((await a.check('openai', 'gpt-4o')).kind, 'probe', 'one probe after the cool-off');
  assert.equal((await b.check('openai', 'gpt-4o')).kind, 'open', 'and only one');
  await a.failed({ provider: 'openai', model: 'gpt-4o', probe: true });
  await tick();
  assert.equal((await b.check('openai', 'gpt-4o')).kind, 'open', 'a failed probe opens it again');
  now += 30_000;
  assert.equal((await b.check('openai', 'gpt-4o')).kind, 'probe');
  await b.succeeded({ provider: 'openai', model: 'gpt-4o' });
  await tick();
  assert.deepEqual(await a.check('openai', 'gpt-4o'), { kind: 'closed' });
  await a.failed({ provider: 'openai', model: 'gpt-4o', probe: false });
  assert.deepEqual(await a.check('openai', 'gpt-4o'), { kind: 'closed' }, 'failures from before the opening do not count again');
  assert.deepEqual(
    events.map((event) => event.state),
    ['half_open', 'open'],
  );
  assert.deepEqual(a.open(), []);
  a.close();
  b.close();
});

test('failures spread wider than the window never open it', async () => {
  let now = 0;
  const shared = new MemorySharedState({ now: () => now });
  const circuits = new Circuits(shared, { now: () => now });
  for (let i = 0; i < 10; i++) {
    await circuits.failed({ provider: 'p', model: 'm', probe: false });
    now += 8_000; // 4 per 30 s window at most
  }
  assert.deepEqual(await circuits.check('p', 'm'), { kind: 'closed' });
  circuits.close();
});
