// The replica's estimate of the Redis server's clock, which reserve deadlines are set on: never misled by a late-read reply.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ServerClock } from '../../../src/ledger/redis/clock.ts';

/** A server whose clock reads local + 5,000,000 ms, and a local monotonic clock the test moves. */
function setup() {
  let local = 1_000;
  const clock = new ServerClock(() => local);
  const server = () => local + 5_000_000;
  return { clock, server, advance: (ms: number) => (local += ms) };
}

describe('ServerClock', () => {
  it('sets no deadline before it has seen the server time', () => {
    assert.equal(new ServerClock().deadline(750), null);
  });

  it('runs the server time on by the local clock', () => {
    const { clock, server, advance } = setup();
    clock.observe(server());
    advance(12_345);
    assert.equal(clock.deadline(750), server() + 750);
  });

  it('is not dragged back by a reply read late (an event-loop stall): the least delayed observation wins', () => {
    const { clock, server, advance } = setup();
    clock.observe(server() - 2); // read 2 ms after the server stamped it
    const stamped = server();
    advance(900); // the event loop was blocked 900 ms before this reply was read
    clock.observe(stamped);
    assert.equal(clock.deadline(750), server() - 2 + 750, 'a deadline in the future, not 150 ms in the past');
  });

  it('follows a server clock stepped forward at once, and one stepped back within a minute', () => {
    const { clock, server, advance } = setup();
    clock.observe(server());
    clock.observe(server() + 3_000); // the server clock jumped 3 s ahead
    assert.equal(clock.deadline(0), server() + 3_000);
    for (let second = 0; second < 61; second++) {
      advance(1_000);
      clock.observe(server()); // back to the original clock
    }
    assert.equal(clock.deadline(0), server());
  });

  it('keeps the last known offset through a quiet spell, and forgets it for a new connection', () => {
    const { clock, server, advance } = setup();
    clock.observe(server());
    advance(10 * 60_000);
    assert.equal(clock.deadline(0), server(), 'an idle replica still bounds its next reserve');
    clock.forget();
    assert.equal(clock.deadline(0), null);
  });
});
