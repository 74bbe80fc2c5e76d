// A USD limit holds against a model newer than the price table: by default its calls are estimated at the provider's highest rates.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { createPriceBook } from '../../src/pricing/price-book.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

const HOUR = 3_600_000;
const LIMIT_MICROS = 500_000;
const budget = { limit_usd: LIMIT_MICROS / 1e6, window: '1h' };
const ceilings = createPriceBook({});

describe('unpriced models against a USD limit', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: { newmodel: { budget }, claude: { budget }, zero: { budget: { ...budget, unknown_cost: 'count_zero' } } },
      upstream: { answerTokens: 20_000 },
    });
  });
  after(() => h.close());

  const ledgerSpend = async (agent: string) =>
    (await h.tollgate.ledger.standing([{ id: 'x', scope: `agent:${agent}`, metric: 'usd_micros', windowMs: HOUR, limit: 1e12 }]))[0]!.used;

  /** 100 calls, 10 at a time; the number served. */
  async function hundredCalls(call: () => Promise<unknown>): Promise<number> {
    let served = 0;
    for (let wave = 0; wave < 10; wave++) {
      for (const result of await Promise.allSettled(Array.from({ length: 10 }, call))) {
        if (result.status === 'fulfilled') served++;
        else assert.equal((result.reason as { status?: number }).status, 429, String(result.reason));
      }
    }
    return served;
  }

  it("OpenAI route: 100 calls to a model the table does not know stop before the limit, whatever the model really costs up to the provider's top rate", async (t) => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('newmodel'), maxRetries: 0 });
    const served = await hundredCalls(() =>
      client.chat.completions.create({ model: 'openai/gpt-9-preview', messages: [{ role: 'user', content: 'hi' }], max_tokens: 200 }),
    );
    await waitFor(() => h.historyLines('newmodel').length === served, 'history of every served call');
    const recorded = await ledgerSpend('newmodel');
    t.diagnostic(`${served} of 100 served; recorded ${recorded} µ$`);
    assert.ok(served > 0 && served < 100, `some served, the rest refused (${served} served, ${recorded} µ$ recorded)`);
    // what the provider bills if the new model costs as much as its most expensive known one (10 in + 200 out a call)
    const top = ceilings.ceilingRates('openai', 'gpt-9-preview');
    const billedAtTop = served * Math.ceil(10 * top.inputPerMTok + 200 * top.outputPerMTok);
    t.diagnostic(`billed at the top rate ${billedAtTop} µ$, limit ${LIMIT_MICROS} µ$`);
    assert.ok(recorded <= LIMIT_MICROS, `recorded ${recorded} µ$ within the limit`);
    assert.ok(billedAtTop <= LIMIT_MICROS, `billed ${billedAtTop} µ$ at most, within the limit`);
    assert.equal(recorded, billedAtTop, "each call recorded at the provider's top rate");
    const line = h.historyLines('newmodel')[0]!;
    assert.equal((line.usage as Record<string, unknown>).cost_micros, undefined, 'history still says the price is unknown');
  });

  it('Anthropic route: the same with a Claude model newer than the table', async () => {
    const client = new Anthropic({ baseURL: h.url, apiKey: h.token('claude'), maxRetries: 0 });
    const served = await hundredCalls(() =>
      client.messages.create({ model: 'claude-future-9', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1000 }),
    );
    assert.ok(served > 0 && served < 100, `some served, the rest refused (${served})`);
    const top = ceilings.ceilingRates('anthropic', 'claude-future-9');
    const billedAtTop = served * Math.ceil(10 * top.inputPerMTok + 1000 * top.outputPerMTok);
    assert.ok(billedAtTop <= LIMIT_MICROS, `billed ${billedAtTop} µ$ at most, within the limit`);
  });

  it("unknown_cost: count_zero, set explicitly, keeps cllama's behaviour: $0 recorded, counted as unknown", async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('zero'), maxRetries: 0 });
    for (let i = 0; i < 3; i++)
      await client.chat.completions.create({ model: 'openai/gpt-9-preview', messages: [{ role: 'user', content: 'hi' }], max_tokens: 200 });
    await waitFor(() => h.historyLines('zero').length === 3, 'history');
    assert.equal(await ledgerSpend('zero'), 0);
  });
});
