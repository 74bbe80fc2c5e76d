// The budget engine's estimate: unknown prices (count_zero, block, estimate, the USD-limit default), output caps and choices.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Ledger } from '../../../src/ledger/ledger.ts';
import { setup, settle } from './engine-setup.ts';

const HOUR = 3_600_000;

describe('unknown_cost', () => {
  const usedOf = async (ledger: Ledger, metric: 'usd_micros' | 'unknown_cost_requests', reservedToo = false) => {
    const [standing] = await ledger.standing([{ id: metric, scope: 'agent:a', metric, windowMs: HOUR, limit: 1e9 }]);
    return reservedToo ? standing.used + standing.reserved : standing.used;
  };

  it('default under a USD limit: reserves and settles at the provider ceiling, so the limit holds', async () => {
    const { admit, ledger } = setup();
    // the fixed pricer's ceiling is its highest rates: 10 µ$ a token in, 10 out (test/pricey)
    assert.equal((await admit({ budget: { limit_usd: 0.000001, window: '1h' }, model: 'test/free-text' })).outcome, 'block');
    const admission = await admit({ budget: { limit_usd: 1, window: '1h' }, model: 'test/free-text', inputTokens: 100, maxOutputTokens: 10 });
    assert.equal(admission.outcome, 'allow');
    assert.equal(await usedOf(ledger, 'usd_micros', true), (100 + 10) * 10);
    await admission.ticket!.settle({ usage: { inputTokens: 50, outputTokens: 7 }, costMicros: null });
    assert.equal(await usedOf(ledger, 'usd_micros'), (50 + 7) * 10);
    assert.equal(await usedOf(ledger, 'unknown_cost_requests'), 1);
  });

  it('default without a USD limit, or count_zero set: reserves $0, counts the request as unknown cost', async () => {
    const { admit: admitOnly, ledger: requestsOnly } = setup();
    const counted = await admitOnly({ budget: { max_requests: 5, window: '1h' }, model: 'test/free-text' });
    await settle(counted, 999, { unknown: true });
    assert.equal(await usedOf(requestsOnly, 'usd_micros'), 0);
    const { admit, ledger } = setup();
    const admission = await admit({ budget: { limit_usd: 0.000001, window: '1h', unknown_cost: 'count_zero' }, model: 'test/free-text' });
    assert.equal(admission.outcome, 'allow');
    assert.equal(await usedOf(ledger, 'usd_micros', true), 0);
    await settle(admission, 999, { unknown: true });
    assert.equal(await usedOf(ledger, 'usd_micros'), 0);
    assert.equal(await usedOf(ledger, 'unknown_cost_requests'), 1);
  });

  it('block: refuses with unknown_cost_blocked', async () => {
    const { admit, of } = setup();
    const admission = await admit({ budget: { unknown_cost: 'block' }, model: 'test/free-text' });
    assert.equal(admission.outcome, 'block');
    assert.equal(admission.error!.code, 'unknown_cost_blocked');
    assert.equal(admission.error!.headers!['x-should-retry'], 'false');
    assert.equal(of('intervention')[0].intervention, 'unknown_cost_blocked');
    assert.equal((await admit({ budget: { unknown_cost: 'block' }, model: 'test/cheap' })).outcome, 'allow');
  });

  it('estimate: reserves and settles at the fallback rates', async () => {
    const { admit, ledger } = setup();
    const budget = { unknown_cost: 'estimate', fallback_rates: { input_per_mtok: 2, output_per_mtok: 3 } };
    const admission = await admit({ budget, model: 'test/free-text', inputTokens: 100, maxOutputTokens: 10 });
    assert.equal(await usedOf(ledger, 'usd_micros', true), 100 * 2 + 10 * 3);
    await admission.ticket!.settle({ usage: { inputTokens: 50, outputTokens: 7 }, costMicros: null });
    assert.equal(await usedOf(ledger, 'usd_micros'), 50 * 2 + 7 * 3);
    assert.equal(await usedOf(ledger, 'unknown_cost_requests'), 1);
  });
});

describe('estimate', () => {
  it('prices input plus the client cap, or the default cap when the client set none', async () => {
    const { admit: admitAny, ledger } = setup({ defaultMaxOutputTokens: 2000 });
    // a limit that never refuses: an agent without any policy holds nothing (see 'no policy')
    const admit = (request: Parameters<typeof admitAny>[0]) => admitAny({ budget: { limit_usd: 1000, window: '1h' }, ...request });
    const reservedUsd = async () => (await ledger.standing([{ id: 'x', scope: 'agent:a', metric: 'usd_micros', windowMs: HOUR, limit: 1e9 }]))[0].reserved;
    const withCap = await admit({ model: 'test/pricey', inputTokens: 100, maxOutputTokens: 50 });
    assert.equal(await reservedUsd(), (100 + 50) * 10);
    await withCap.ticket!.release();
    const defaulted = await admit({ model: 'test/pricey', inputTokens: 100, maxOutputTokens: null });
    assert.equal(await reservedUsd(), (100 + 2000) * 10);
    assert.equal(defaulted.outputCap, 2000, 'the default cap reserved is the one to set upstream');
    assert.equal(withCap.outputCap, null, 'a client cap is left alone');
    await defaulted.ticket!.release();
    const choices = await admit({ model: 'test/pricey', inputTokens: 100, maxOutputTokens: null, choices: 8 });
    assert.equal(await reservedUsd(), (100 + 8 * 2000) * 10, 'n multiplies the default cap');
    assert.equal(choices.outputCap, 2000, 'the cap set upstream is per choice');
    await choices.ticket!.release();
    const optOut = await admitAny({
      budget: { limit_usd: 1000, window: '1h', cap_output_tokens: false },
      model: 'test/pricey',
      inputTokens: 100,
      maxOutputTokens: null,
    });
    assert.equal(optOut.outputCap, null, 'cap_output_tokens: false sends the request as it came');
  });

  it('checks token limits against the estimated output cap', async () => {
    const { admit } = setup();
    assert.equal((await admit({ budget: { max_output_tokens: 500, window: '1h' }, maxOutputTokens: 400 })).outcome, 'allow');
    const blocked = await admit({ budget: { max_output_tokens: 500, window: '1h' }, maxOutputTokens: 400 });
    assert.equal(blocked.error!.code, 'budget_exceeded');
    assert.equal((blocked.error!.extra!.budget as Record<string, unknown>).max_output_tokens, 500);
  });
});
