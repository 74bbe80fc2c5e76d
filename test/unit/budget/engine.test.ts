// The budget engine over the real MemoryLedger: every outcome, exact retry signals and headers, tickets, unknown cost, downgrade.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Ledger } from '../../../src/ledger/ledger.ts';
import { makeAgent } from './helpers.ts';
import { setup, settle } from './engine-setup.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('no policy', () => {
  it('allows, adds no headers and no decision event, and still records usage in the ledger', async () => {
    const { admit, ledger, of } = setup();
    const admission = await admit({});
    assert.equal(admission.outcome, 'allow');
    assert.deepEqual(admission.headers, {});
    assert.equal(admission.error, null);
    await settle(admission, 700);
    const [standing] = await ledger.standing([{ id: 'x', scope: 'agent:a', metric: 'usd_micros', windowMs: HOUR, limit: 1e9 }]);
    assert.equal(standing.used, 700);
    assert.equal(of('budget_decision').length, 0);
  });

  it('holds nothing and never reads the estimate; settle records once, release and a second settle change nothing', async () => {
    const { engine, ledger, of } = setup();
    const estimate = { get inputTokens(): number { throw new Error('estimate read'); }, get maxOutputTokens(): number { throw new Error('estimate read'); } };
    const admission = await engine.admit({ requestId: 'r-1', agent: makeAgent({}), provider: 'test', model: 'cheap', requestedModel: 'test/cheap', estimate });
    assert.equal(admission.outcome, 'allow');
    assert.equal(ledger.openReservations, 0);
    await admission.ticket!.settle({ usage: { inputTokens: 1, outputTokens: 1 }, costMicros: 5 });
    await admission.ticket!.release();
    await admission.ticket!.settle({ usage: { inputTokens: 1, outputTokens: 1 }, costMicros: 5 });
    const standings = await ledger.standing((['usd_micros', 'requests'] as const).map((metric) => ({ id: metric, scope: 'agent:a', metric, windowMs: HOUR, limit: 1e9 })));
    assert.deepEqual(standings.map((standing) => [standing.used, standing.reserved]), [[5, 0], [1, 0]]);
    assert.match(String(of('warning')[0].error), /release called after it was already settled or released/);
    assert.equal(of('warning').length, 1, 'reported once');
  });
});

describe('hard_stop', () => {
  it('refuses with budget_exceeded, x-should-retry false, the exact time headroom returns, and cllama\'s budget body', async () => {
    const { admit, time, of } = setup();
    const budget = { limit_usd: 0.001, window: '1h', behavior: 'hard_stop' };
    const first = await admit({ budget });
    assert.equal(first.outcome, 'allow');
    await settle(first, 600);
    time.advance(10 * MINUTE);
    const second = await admit({ budget });
    assert.equal(second.outcome, 'block');
    assert.equal(second.ticket, null);
    const error = second.error!;
    assert.equal(error.code, 'budget_exceeded');
    assert.equal(error.status, 429);
    assert.equal(error.message, 'budget exceeded');
    assert.deepEqual(error.headers, { 'x-should-retry': 'false', 'retry-after': '3000', 'retry-after-ms': '3000000' });
    assert.deepEqual(error.extra, {
      budget: {
        behavior: 'hard_stop',
        window: '1h',
        limit_usd: 0.001,
        requests: 1,
        reported_cost_usd: 0.0006,
        unknown_cost_requests: 0,
        limit_id: 'agent:a/usd/1h',
        scope: 'agent:a',
        metric: 'usd_micros',
        retry_after_ms: 3_000_000,
        resets_at: new Date(time.now() + 3_000_000).toISOString(),
      },
    });
    assert.deepEqual(second.headers, { 'x-tollgate-budget-limit-usd': '0.001', 'x-tollgate-budget-remaining-usd': '0.0004', 'x-tollgate-budget-reset-usd': '50m0s' });
    const [intervention] = of('intervention');
    assert.equal(intervention.intervention, 'budget_exceeded');
    assert.equal(intervention.behavior, 'hard_stop');
    const decisions = of('budget_decision');
    assert.deepEqual(decisions.map((event) => event.outcome), ['allow', 'block']);
    assert.equal(decisions[1].source, '/ctx/a/metadata.json');
    assert.equal(decisions[1].limit_id, 'agent:a/usd/1h');
  });

  it('refuses at exactly the limit (cllama >=) and lets traffic resume when the spend leaves the window', async () => {
    const { admit, time } = setup();
    const budget = { limit_usd: 0.0005, window: '2s' };
    await settle(await admit({ budget }), 500);
    assert.equal((await admit({ budget, inputTokens: 0, maxOutputTokens: 1 })).outcome, 'block');
    time.advance(2_000);
    assert.equal((await admit({ budget })).outcome, 'allow');
  });

  it('answers rate_limited (still x-should-retry false) when a request-count limit tripped, USD checked first', async () => {
    const { admit } = setup();
    const budget = { max_requests: 1, limit_usd: 1, window: '1h' };
    await settle(await admit({ budget }), 10);
    const blocked = await admit({ budget });
    assert.equal(blocked.error!.code, 'rate_limited');
    assert.equal(blocked.error!.message, 'request rate limit exceeded');
    assert.equal(blocked.error!.headers!['x-should-retry'], 'false');
    assert.equal((blocked.error!.extra!.budget as Record<string, unknown>).max_requests, 1);
    assert.equal((blocked.error!.extra!.budget as Record<string, unknown>).limit_usd, 1);
    const both = { max_requests: 1, limit_usd: 0.0006, window: '1h' };
    const { admit: admit2 } = setup();
    await settle(await admit2({ budget: both }), 600);
    assert.equal((await admit2({ budget: both })).error!.code, 'budget_exceeded');
  });

  it('omits retry headers when waiting cannot help (the request alone exceeds the limit)', async () => {
    const { admit } = setup();
    const blocked = await admit({ budget: { limit_usd: 0.0001, window: '1h' } });
    assert.deepEqual(blocked.error!.headers, { 'x-should-retry': 'false' });
    assert.equal((blocked.error!.extra!.budget as Record<string, unknown>).retry_after_ms, null);
  });
});

describe('rate_limit', () => {
  it('refuses with rate_limited, x-should-retry true and Retry-After = time until this request fits', async () => {
    const { admit, time } = setup();
    const budget = { max_requests: 2, window: '1m', behavior: 'rate_limit' };
    await settle(await admit({ budget }), 1);
    time.advance(10_000);
    await settle(await admit({ budget }), 1);
    time.advance(20_500);
    const blocked = await admit({ budget });
    assert.equal(blocked.error!.code, 'rate_limited');
    assert.deepEqual(blocked.error!.headers, { 'x-should-retry': 'true', 'retry-after': '30', 'retry-after-ms': '29500' });
    assert.equal(blocked.headers['x-ratelimit-remaining-requests'], '0');
    assert.equal(blocked.headers['x-ratelimit-reset-requests'], '29.5s');
    time.advance(29_500);
    assert.equal((await admit({ budget })).outcome, 'allow');
  });

  it('uses the USD limit\'s exact wait too', async () => {
    const { admit, time } = setup();
    const budget = { limit_usd: 0.001, window: '1h', behavior: 'rate_limit' };
    await settle(await admit({ budget }), 300);
    time.advance(MINUTE);
    await settle(await admit({ budget }), 300);
    time.advance(MINUTE);
    const blocked = await admit({ budget }); // needs 500: 600 used, the first 300 must leave at 1h
    assert.equal(blocked.error!.code, 'rate_limited');
    assert.equal(blocked.error!.headers!['retry-after-ms'], String(HOUR - 2 * MINUTE));
    assert.equal(blocked.error!.headers!['retry-after'], String((HOUR - 2 * MINUTE) / 1000));
  });

  it('falls back to the window when waiting cannot help, and says so in the body', async () => {
    const { admit } = setup();
    const blocked = await admit({ budget: { limit_usd: 0.0001, window: '90s', behavior: 'rate_limit' } });
    assert.deepEqual(blocked.error!.headers, { 'x-should-retry': 'true', 'retry-after': '90', 'retry-after-ms': '90000' });
  });
});

describe('soft_alert', () => {
  it('lets the request pass with the cllama intervention name and behaviour soft_alert', async () => {
    const { admit, of } = setup();
    const budget = { limit_usd: 0.0005, window: '1h', behavior: 'soft_alert' };
    await settle(await admit({ budget }), 600);
    const over = await admit({ budget });
    assert.equal(over.outcome, 'soft');
    assert.equal(over.error, null);
    assert.ok(over.ticket);
    const interventions = of('intervention');
    assert.equal(interventions.length, 1);
    assert.equal(interventions[0].intervention, 'budget_exceeded');
    assert.equal(interventions[0].behavior, 'soft_alert');
    assert.equal(over.headers['x-tollgate-budget-remaining-usd'], '0');
    assert.deepEqual(of('budget_decision').map((event) => event.outcome), ['allow', 'soft']);
  });

  it('names request-count soft limits rate_limited', async () => {
    const { admit, of } = setup();
    const budget = { max_requests: 1, window: '1h', behavior: 'soft_alert' };
    await settle(await admit({ budget }), 1);
    assert.equal((await admit({ budget })).outcome, 'soft');
    assert.equal(of('intervention')[0].intervention, 'rate_limited');
  });
});

describe('standing headers', () => {
  it('reports the tightest request, token and USD limits after this request\'s hold', async () => {
    const { admit, time } = setup();
    const budget = { max_requests: 10, max_total_tokens: 10_000, limit_usd: 0.01, window: '1m', limits: [{ max_requests: 100, window: '1d' }] };
    await settle(await admit({ budget }), 500);
    time.advance(15_000);
    const admission = await admit({ budget });
    assert.deepEqual(admission.headers, {
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '8',
      'x-ratelimit-reset-requests': '45s',
      'x-ratelimit-limit-tokens': '10000',
      'x-ratelimit-remaining-tokens': '9000',
      'x-ratelimit-reset-tokens': '45s',
      'x-tollgate-budget-limit-usd': '0.01',
      'x-tollgate-budget-remaining-usd': '0.009',
      'x-tollgate-budget-reset-usd': '45s',
    });
  });

  it('shows a fresh window as resetting in 0s', async () => {
    const { admit } = setup();
    const admission = await admit({ budget: { max_requests: 3, window: '1h' } });
    assert.deepEqual(admission.headers, { 'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': '2', 'x-ratelimit-reset-requests': '0s' });
  });
});

describe('ticket', () => {
  it('settles exactly once; a second settle or release is a no-op reported once', async () => {
    const { admit, ledger, of } = setup();
    const admission = await admit({ budget: { limit_usd: 1, window: '1h' } });
    const ticket = admission.ticket!;
    assert.equal(ticket.done, false);
    await ticket.settle({ usage: { inputTokens: 10, outputTokens: 5, cacheReadTokens: 5 }, costMicros: 123 });
    assert.equal(ticket.done, true);
    await ticket.settle({ usage: { inputTokens: 10, outputTokens: 5 }, costMicros: 123 });
    await ticket.release();
    const checks = (['usd_micros', 'requests', 'input_tokens', 'output_tokens', 'total_tokens'] as const).map((metric) => ({ id: metric, scope: 'agent:a', metric, windowMs: HOUR, limit: 1e9 }));
    const standings = await ledger.standing(checks);
    assert.deepEqual(standings.map((standing) => [standing.metric, standing.used, standing.reserved]), [
      ['usd_micros', 123, 0], ['requests', 1, 0], ['input_tokens', 15, 0], ['output_tokens', 5, 0], ['total_tokens', 20, 0],
    ]);
    const errors = of('warning');
    assert.equal(errors.length, 1);
    assert.match(String(errors[0].error), /settle called after it was already settled or released/);
    assert.equal(ledger.openReservations, 0);
  });

  it('release frees the hold without usage', async () => {
    const { admit, ledger } = setup();
    const admission = await admit({ budget: { limit_usd: 0.0006, window: '1h' } });
    assert.equal(ledger.openReservations, 1);
    assert.equal((await admit({ budget: { limit_usd: 0.0006, window: '1h' } })).outcome, 'block', 'the hold counts');
    await admission.ticket!.release();
    assert.equal(ledger.openReservations, 0);
    assert.equal((await admit({ budget: { limit_usd: 0.0006, window: '1h' } })).outcome, 'allow');
  });

  it('records usage even when the lease expired before settle', async () => {
    const { admit, ledger, time, of } = setup({ leaseMs: 1000 });
    const admission = await admit({ budget: { limit_usd: 1, window: '1h' } });
    time.advance(5000);
    await settle(admission, 250);
    const [standing] = await ledger.standing([{ id: 'x', scope: 'agent:a', metric: 'usd_micros', windowMs: HOUR, limit: 1e9 }]);
    assert.equal(standing.used, 250);
    assert.match(String(of('warning')[0].error), /had expired before settle/);
  });

  it('counts a response without usage as one request of unknown cost', async () => {
    const { admit, ledger } = setup();
    await (await admit({})).ticket!.settle({ usage: null, costMicros: null });
    const standings = await ledger.standing((['requests', 'unknown_cost_requests', 'usd_micros'] as const).map((metric) => ({ id: metric, scope: 'agent:a', metric, windowMs: HOUR, limit: 1e9 })));
    assert.deepEqual(standings.map((standing) => standing.used), [1, 1, 0]);
  });
});

describe('downgrade_to', () => {
  it('routes to the cheaper model instead of blocking when it fits', async () => {
    const { admit, ledger, of } = setup();
    const budget = { limit_usd: 0.001, window: '1h', downgrade_to: 'test/cheap' };
    const admission = await admit({ budget, model: 'test/pricey', inputTokens: 100, maxOutputTokens: 100 }); // 2000 µ$ pricey, 200 µ$ cheap
    assert.equal(admission.outcome, 'allow');
    assert.equal(admission.downgradeTo, 'test/cheap');
    const [standing] = await ledger.standing([{ id: 'x', scope: 'agent:a', metric: 'usd_micros', windowMs: HOUR, limit: 1e9 }]);
    assert.equal(standing.reserved, 200);
    const [intervention] = of('intervention');
    assert.deepEqual([intervention.intervention, intervention.from_model, intervention.to_model], ['model_downgraded', 'test/pricey', 'test/cheap']);
  });

  it('blocks with the original refusal when the cheaper model does not fit either', async () => {
    const { admit } = setup();
    const blocked = await admit({ budget: { limit_usd: 0.0001, window: '1h', downgrade_to: 'test/cheap' }, model: 'test/pricey' });
    assert.equal(blocked.outcome, 'block');
    assert.equal(blocked.downgradeTo, null);
    assert.equal(blocked.error!.code, 'budget_exceeded');
  });

  it('downgrades from downgrade_at of the USD limit even when the original would fit', async () => {
    const { admit } = setup();
    const budget = { limit_usd: 0.01, window: '1h', downgrade_to: 'test/cheap', downgrade_at: 0.5 };
    assert.equal((await admit({ budget, model: 'test/pricey', maxOutputTokens: 100 })).downgradeTo, null);
    await settle(await admit({ budget, model: 'test/cheap' }), 5000);
    const late = await admit({ budget, model: 'test/pricey', maxOutputTokens: 100 });
    assert.equal(late.outcome, 'allow');
    assert.equal(late.downgradeTo, 'test/cheap');
  });

  it('also replaces a model whose price is unknown when unknown_cost blocks', async () => {
    const { admit } = setup();
    const admission = await admit({ budget: { unknown_cost: 'block', downgrade_to: 'test/cheap' }, model: 'test/free-text' });
    assert.equal(admission.downgradeTo, 'test/cheap');
  });
});

describe('unavailable', () => {
  it('fails open on a bad policy: passes, logs budget_check_unavailable and an error, still records usage', async () => {
    const { admit, ledger, of } = setup();
    const admission = await admit({ budget: { limit_usd: 1, window: '7 weeks' } });
    assert.equal(admission.outcome, 'unavailable');
    assert.equal(admission.error, null);
    assert.deepEqual(admission.headers, {});
    assert.equal(of('intervention')[0].intervention, 'budget_check_unavailable');
    const [error] = of('error');
    assert.equal(error.status_code, 0);
    assert.equal(error.error, '/ctx/a/metadata.json: budget.window: must be a positive duration like 1h or 7d');
    await settle(admission, 42);
    const [standing] = await ledger.standing([{ id: 'x', scope: 'agent:a', metric: 'usd_micros', windowMs: HOUR, limit: 1e9 }]);
    assert.equal(standing.used, 42);
  });

  it('fails closed with 503 budget_unavailable and no intervention', async () => {
    const { admit, of } = setup({ failMode: 'closed' });
    const admission = await admit({ agent: makeAgent({ budget: { limit_usd: 1, window: '1h' }, overrideError: 'invalid JSON' }) });
    assert.equal(admission.outcome, 'unavailable');
    assert.equal(admission.error!.code, 'budget_unavailable');
    assert.equal(admission.error!.status, 503);
    assert.equal(admission.error!.message, 'budget enforcement unavailable');
    assert.equal(admission.ticket, null);
    assert.equal(of('intervention').length, 0);
    assert.equal(of('budget_decision')[0].outcome, 'unavailable');
  });

  it('treats a failing ledger as unavailable in both modes', async () => {
    const broken = { reserve: async () => { throw new Error('connection refused'); }, standing: async () => { throw new Error('connection refused'); } } as unknown as Ledger;
    const open = setup({ ledger: broken });
    const passed = await open.admit({ budget: { limit_usd: 1, window: '1h' } });
    assert.equal(passed.outcome, 'unavailable');
    assert.equal(passed.ticket, null);
    assert.equal(passed.error, null);
    assert.match(String(open.of('error')[0].error), /budget ledger error: connection refused/);
    const closed = setup({ ledger: broken, failMode: 'closed' });
    assert.equal((await closed.admit({ budget: { limit_usd: 1, window: '1h' } })).error!.code, 'budget_unavailable');
  });

  it('refuses on a check the ledger rejects as malformed (a defect) even in open mode: it would drop the budget for good', async () => {
    const rejecting = { reserve: async () => { throw new TypeError('ledger: windowMs of agent:a/concurrency must be a positive integer'); } } as unknown as Ledger;
    const { admit, of } = setup({ ledger: rejecting });
    const admission = await admit({ budget: { limit_usd: 1, window: '1h', max_concurrent: 2 } });
    assert.equal(admission.error!.code, 'budget_unavailable');
    assert.equal(admission.ticket, null);
    assert.equal(of('intervention').length, 0, 'not passed as budget_check_unavailable');
    assert.match(String(of('budget_decision')[0].reason), /refused whatever the fail mode: TypeError: ledger: windowMs/);
  });
});

describe('shared and model-scoped limits', () => {
  it('draws several agents from one shared budget', async () => {
    const { admit } = setup({ shared: { team: { limit_usd: 0.001, window: '1h' } } });
    const a = makeAgent({ id: 'a', budget: { shared: ['team'] } });
    const b = makeAgent({ id: 'b', budget: { shared: ['team'], limit_usd: 5, window: '1h' } });
    await settle(await admit({ agent: a }), 800);
    const blocked = await admit({ agent: b });
    assert.equal(blocked.outcome, 'block');
    assert.equal((blocked.error!.extra!.budget as Record<string, unknown>).scope, 'shared:team');
    assert.equal((blocked.error!.extra!.budget as Record<string, unknown>).reported_cost_usd, 0.0008);
  });

  it('applies a model-scoped limit only to matching models', async () => {
    const { admit } = setup();
    const budget = { limits: [{ max_requests: 1, window: '1h', models: ['test/*'] }] };
    await settle(await admit({ budget, model: 'test/cheap' }), 1);
    assert.equal((await admit({ budget, model: 'test/pricey' })).outcome, 'block');
    assert.equal((await admit({ budget, model: 'other/cheap' })).outcome, 'allow');
  });
});

describe('concurrency', () => {
  it('caps in-flight requests with max_concurrent and frees a slot on settle', async () => {
    const { admit } = setup();
    const budget = { max_concurrent: 2 };
    const first = await admit({ budget });
    await admit({ budget });
    const third = await admit({ budget });
    assert.equal(third.error!.code, 'rate_limited');
    assert.deepEqual(third.error!.headers, { 'x-should-retry': 'true', 'retry-after': '1', 'retry-after-ms': '1000' });
    const refused = third.error!.extra!.budget as Record<string, unknown>;
    assert.deepEqual([refused.window, refused.max_concurrent, refused.in_flight, refused.metric], [null, 2, 2, 'concurrency'], 'a capacity cap has no window: null, not ""');
    await settle(first, 1);
    assert.equal((await admit({ budget })).outcome, 'allow');
  });

  it('admits exactly 10 of 50 concurrent requests against a USD limit that fits 10, and never overspends', async () => {
    const { engine, ledger } = setup();
    const agent = makeAgent({ budget: { limit_usd: 0.005, window: '1h' } }); // 5000 µ$; each request reserves 500 µ$
    const admissions = await Promise.all(Array.from({ length: 50 }, (_, index) => engine.admit({
      requestId: `c${index}`, agent, provider: 'test', model: 'cheap', requestedModel: 'test/cheap', estimate: { inputTokens: 100, maxOutputTokens: 400 },
    })));
    const admitted = admissions.filter((admission) => admission.outcome === 'allow');
    assert.equal(admitted.length, 10);
    assert.equal(admissions.filter((admission) => admission.error?.code === 'budget_exceeded').length, 40);
    await Promise.all(admitted.map((admission) => settle(admission, 500)));
    const [standing] = await ledger.standing([{ id: 'x', scope: 'agent:a', metric: 'usd_micros', windowMs: HOUR, limit: 1e9 }]);
    assert.equal(standing.used, 5000);
    assert.ok(standing.used <= 5000);
  });
});
