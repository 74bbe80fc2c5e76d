// The budget engine over the real MemoryLedger: every outcome (allow, block, soft, unavailable), exact retry signals and headers.
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
    const estimate = {
      get inputTokens(): number {
        throw new Error('estimate read');
      },
      get maxOutputTokens(): number {
        throw new Error('estimate read');
      },
    };
    const admission = await engine.admit({ requestId: 'r-1', agent: makeAgent({}), provider: 'test', model: 'cheap', requestedModel: 'test/cheap', estimate });
    assert.equal(admission.outcome, 'allow');
    assert.equal(ledger.openReservations, 0);
    await admission.ticket!.settle({ usage: { inputTokens: 1, outputTokens: 1 }, costMicros: 5 });
    await admission.ticket!.release();
    await admission.ticket!.settle({ usage: { inputTokens: 1, outputTokens: 1 }, costMicros: 5 });
    const standings = await ledger.standing(
      (['usd_micros', 'requests'] as const).map((metric) => ({ id: metric, scope: 'agent:a', metric, windowMs: HOUR, limit: 1e9 })),
    );
    assert.deepEqual(
      standings.map((standing) => [standing.used, standing.reserved]),
      [
        [5, 0],
        [1, 0],
      ],
    );
    assert.match(String(of('warning')[0].error), /release called after it was already settled or released/);
    assert.equal(of('warning').length, 1, 'reported once');
  });
});

describe('hard_stop', () => {
  it("refuses with budget_exceeded, x-should-retry false, the exact time headroom returns, and cllama's budget body", async () => {
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
    assert.deepEqual(second.headers, {
      'x-tollgate-budget-limit-usd': '0.001',
      'x-tollgate-budget-remaining-usd': '0.0004',
      'x-tollgate-budget-reset-usd': '50m0s',
    });
    const [intervention] = of('intervention');
    assert.equal(intervention.intervention, 'budget_exceeded');
    assert.equal(intervention.behavior, 'hard_stop');
    const decisions = of('budget_decision');
    assert.deepEqual(
      decisions.map((event) => event.outcome),
      ['allow', 'block'],
    );
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

  it("uses the USD limit's exact wait too", async () => {
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
    assert.deepEqual(
      of('budget_decision').map((event) => event.outcome),
      ['allow', 'soft'],
    );
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
  it("reports the tightest request, token and USD limits after this request's hold", async () => {
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
    const broken = {
      reserve: async () => {
        throw new Error('connection refused');
      },
      standing: async () => {
        throw new Error('connection refused');
      },
    } as unknown as Ledger;
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
    const rejecting = {
      reserve: async () => {
        throw new TypeError('ledger: windowMs of agent:a/concurrency must be a positive integer');
      },
    } as unknown as Ledger;
    const { admit, of } = setup({ ledger: rejecting });
    const admission = await admit({ budget: { limit_usd: 1, window: '1h', max_concurrent: 2 } });
    assert.equal(admission.error!.code, 'budget_unavailable');
    assert.equal(admission.ticket, null);
    assert.equal(of('intervention').length, 0, 'not passed as budget_check_unavailable');
    assert.match(String(of('budget_decision')[0].reason), /refused whatever the fail mode: TypeError: ledger: windowMs/);
  });
});
