// Session budgets in the engine: per session id, beside the agent's own limits, expiring once idle.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setup, settle } from './engine-setup.ts';
import { makeAgent } from './helpers.ts';

const MINUTE = 60_000;
// each call reserves 100 input + 400 output tokens of test/cheap = 500 µ$
const budget = { limit_usd: 1, window: '1h', session: { limit_usd: 0.0012, idle_ttl: '30m' } };

describe('session budgets', () => {
  it('caps a session while the agent still has room; another session and calls without one are not held by it', async () => {
    const { admit } = setup();
    const agent = makeAgent({ budget });
    const run = (id?: string) => admit({ agent, headers: id ? { 'x-tollgate-session': id } : {} });
    for (let i = 0; i < 2; i++) await settle(await run('run-1'), 500);
    const third = await run('run-1');
    assert.equal(third.outcome, 'block');
    assert.equal(third.error?.code, 'budget_exceeded');
    assert.equal(third.error?.message, 'session run-1 budget exceeded');
    const body = (third.error?.extra as { budget: Record<string, unknown> } | undefined)?.budget ?? {};
    assert.deepEqual(body.session, { id: 'run-1', requests: 2, spent_usd: 0.001 });
    assert.equal(body.limit_id, 'agent:a/session/usd');
    assert.equal(body.window, 'session');
    assert.equal((await run('run-2')).outcome, 'allow', 'a second session has its own budget');
    assert.equal((await run()).outcome, 'allow', "no header: the agent's own limits only");
  });

  it('forgets a session idle for its idle_ttl, not one in use', async () => {
    const { admit, time } = setup();
    const agent = makeAgent({ budget });
    const run = () => admit({ agent, headers: { 'x-tollgate-session': 'job' } });
    await settle(await run(), 500);
    time.advance(29 * MINUTE);
    await settle(await run(), 500);
    time.advance(29 * MINUTE);
    assert.equal((await run()).outcome, 'block', 'active within its idle time: still counted');
    time.advance(31 * MINUTE);
    assert.equal((await run()).outcome, 'allow', 'idle 31 minutes: a fresh session');
  });

  it('reads the header the policy names, and refuses a session id that is not plain with 400', async () => {
    const { admit } = setup();
    const agent = makeAgent({ budget: { ...budget, session: { ...budget.session, header: 'X-Run-Id' } } });
    const run = (headers: Record<string, string>) => admit({ agent, headers });
    for (let i = 0; i < 2; i++) await settle(await run({ 'x-run-id': 'r' }), 500);
    assert.equal((await run({ 'x-run-id': 'r' })).outcome, 'block');
    assert.equal((await run({ 'x-tollgate-session': 'r' })).outcome, 'allow', 'the default header is not the one named');
    for (const bad of ['../../etc', 'a'.repeat(129), 'run 1', 'run\u200b1']) {
      const refused = await run({ 'x-run-id': bad });
      assert.equal(refused.error?.code, 'invalid_session', bad);
      assert.equal(refused.error?.status, 400);
    }
  });

  it('holds under concurrency: 200 reservations at once, never more than the session allows', async () => {
    const { admit } = setup();
    const agent = makeAgent({ budget: { limit_usd: 10, window: '1h', session: { max_requests: 7 } } });
    const admissions = await Promise.all(Array.from({ length: 200 }, () => admit({ agent, headers: { 'x-tollgate-session': 's' } })));
    assert.equal(admissions.filter((admission) => admission.outcome === 'allow').length, 7);
  });
});
