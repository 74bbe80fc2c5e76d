// The Redis the suite is given (REDIS_URL, possibly one scripts/pretest.js started for the run) answers; run on its own by pretest.test.ts with REDIS_URL on a closed port.
import { it } from 'node:test';
import { requireRedis } from '../ledger/redis-test-support.ts';

it('the Redis at REDIS_URL answers PING', async () => {
  await requireRedis();
});
