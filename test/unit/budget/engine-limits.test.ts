// The budget engine's holds and scopes over the real MemoryLedger: tickets settled once, downgrade, shared and model-scoped limits, concurrency.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeAgent } from './helpers.ts';
import { setup, settle } from './engine-setup.ts';

const HOUR = 60 * 60_000;

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
    const checks = (['usd_micros', 'requests', 'input_tokens', 'output_tokens', 'total_tokens'] as const).map((metric) => ({
      id: metric,
      scope: 'agent:a',
      metric,
      windowMs: HOUR,
      limit: 1e9,
    }));
    const standings = await ledger.standing(checks);
    assert.deepEqual(
      standings.map((standing) => [standing.metric, standing.used, standing.reserved]),
      [
        ['usd_micros', 123, 0],
        ['requests', 1, 0],
        ['input_tokens', 15, 0],
        ['output_tokens', 5, 0],
        ['total_tokens', 20, 0],
      ],
    );
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
    const standings = await ledger.standing(
      (['requests', 'unknown_cost_requests', 'usd_micros'] as const).map((metric) => ({ id: metric, scope: 'agent:a', metric, windowMs: HOUR, limit: 1e9 })),
    );
    assert.deepEqual(
      standings.map((standing) => standing.used),
      [1, 1, 0],
    );
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
    assert.deepEqual(
      [refused.window, refused.max_concurrent, refused.in_flight, refused.metric],
      [null, 2, 2, 'concurrency'],
      'a capacity cap has no window: null, not ""',
    );
    await settle(first, 1);
    assert.equal((await admit({ budget })).outcome, 'allow');
  });

  it('admits exactly 10 of 50 concurrent requests against a USD limit that fits 10, and never overspends', async () => {
    const { engine, ledger } = setup();
    const agent = makeAgent({ budget: { limit_usd: 0.005, window: '1h' } }); // 5000 µ$; each request reserves 500 µ$
    const admissions = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        engine.admit({
          requestId: `c${index}`,
          agent,
          provider: 'test',
          model: 'cheap',
          requestedModel: 'test/cheap',
          estimate: { inputTokens: 100, maxOutputTokens: 400 },
        }),
      ),
    );
    const admitted = admissions.filter((admission) => admission.outcome === 'allow');
    assert.equal(admitted.length, 10);
    assert.equal(admissions.filter((admission) => admission.error?.code === 'budget_exceeded').length, 40);
    await Promise.all(admitted.map((admission) => settle(admission, 500)));
    const [standing] = await ledger.standing([{ id: 'x', scope: 'agent:a', metric: 'usd_micros', windowMs: HOUR, limit: 1e9 }]);
    assert.equal(standing.used, 5000);
    assert.ok(standing.used <= 5000);
  });
});
