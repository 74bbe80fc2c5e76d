// InFlightCalls: shutdown's wait for calls in progress, with its bound.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { InFlightCalls } from '../../../src/pipeline/in-flight.ts';

it('resolves idle at once with no call, when the last call ends, and false when the bound passes first', async () => {
  const calls = new InFlightCalls();
  assert.equal(await calls.idle(1000), true);
  calls.started();
  calls.started();
  let settled = false;
  const idle = calls.idle(5000).then((result) => {
    settled = true;
    return result;
  });
  calls.ended();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false, 'one call still in progress');
  calls.ended();
  assert.equal(await idle, true);
  calls.started();
  assert.equal(await calls.idle(20), false, 'a call that never ends does not hold shutdown for ever');
  assert.equal(calls.count, 1);
});
