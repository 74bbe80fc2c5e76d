// An agent gaming the output estimate: no cap with long answers, n choices, caps and stream flags of the wrong shape.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

const HOUR = 3_600_000;
const LIMIT_USD = 0.5;
const LIMIT_MICROS = LIMIT_USD * 1e6;
/** The fake model writes 20,000 tokens per choice unless the request caps fewer: $0.20 a choice on gpt-4o. */
const ANSWER_TOKENS = 20_000;
const budget = { limit_usd: LIMIT_USD, window: '1h', behavior: 'hard_stop' };

describe('output estimates an agent cannot game', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: { nocap: { budget }, claude: { budget }, choices: { budget }, optout: { budget: { ...budget, cap_output_tokens: false } }, shapes: { budget } },
      upstream: { answerTokens: ANSWER_TOKENS, delayMs: 20 },
    });
  });
  after(() => h.close());

  const openai = (agent: string) => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token(agent), maxRetries: 0 });
  const anthropic = (agent: string) => new Anthropic({ baseURL: h.url, apiKey: h.token(agent), maxRetries: 0 });
  const ledgerSpend = async (agent: string) =>
    (await h.tollgate.ledger.standing([{ id: 'x', scope: `agent:${agent}`, metric: 'usd_micros', windowMs: HOUR, limit: 1e12 }]))[0]!.used;
  const historySpend = (agent: string) => h.historyLines(agent).reduce((sum, line) => sum + Number((line.usage as Record<string, number>).cost_micros), 0);
  /** What went upstream for an agent's calls (each agent's prompt starts with `<agent>:`). */
  const upstreamBodies = (agent: string) =>
    h.fake.requests.map((request) => request.body).filter((body) => JSON.stringify(body.messages).startsWith(`[{"role":"user","content":"${agent}:`));

  /** Fires `total` calls, `concurrency` at a time; returns how many were served and how many refused with 429. */
  async function waves(total: number, concurrency: number, call: () => Promise<unknown>): Promise<{ served: number; refused: number }> {
    let served = 0;
    let refused = 0;
    for (let fired = 0; fired < total; fired += concurrency) {
      const results = await Promise.allSettled(Array.from({ length: Math.min(concurrency, total - fired) }, call));
      for (const result of results) {
        if (result.status === 'fulfilled') served++;
        else if ((result.reason as { status?: number }).status === 429) refused++;
        else throw result.reason;
      }
    }
    return { served, refused };
  }

  it('no max_tokens, answers of 20,000 tokens, 50 at a time: spend stays at or under the $0.50 limit (OpenAI route)', async (t) => {
    const client = openai('nocap');
    const { served, refused } = await waves(100, 50, () =>
      client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'nocap: write a long essay' }] }),
    );
    assert.ok(served > 0 && refused > 0, `some served (${served}), the rest refused (${refused})`);
    await waitFor(() => h.historyLines('nocap').length === served, 'history of every served call');
    const spent = historySpend('nocap');
    t.diagnostic(`spent ${spent} µ$ of ${LIMIT_MICROS} µ$ in ${served} answers`);
    assert.ok(spent <= LIMIT_MICROS, `spent ${spent} µ$ against a limit of ${LIMIT_MICROS} µ$ (${served} answers)`);
    assert.equal(await ledgerSpend('nocap'), spent);
    // the cap tollgate reserved went upstream in the field OpenAI reads; the rest of the body is the agent's
    for (const body of upstreamBodies('nocap')) {
      assert.equal(body.max_completion_tokens, 4096);
      assert.equal(body.max_tokens, undefined);
      assert.deepEqual(body.messages, [{ role: 'user', content: 'nocap: write a long essay' }]);
    }
    const line = h.historyLines('nocap')[0]!;
    assert.equal((line.request_effective as Record<string, unknown>).max_completion_tokens, 4096, 'history keeps the body that crossed the wire');
    assert.equal((line.request_original as Record<string, unknown>).max_completion_tokens, undefined, 'and the one the agent sent');
    assert.deepEqual(line.interventions, ['output_capped']);
  });

  it('no max_tokens on /v1/messages (raw request: the SDK requires it): the reserved cap goes upstream as max_tokens', async (t) => {
    const call = async () => {
      const response = await fetch(`${h.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': h.token('claude'), 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-sonnet-4-20250514', messages: [{ role: 'user', content: 'claude: write a long essay' }] }),
      });
      await response.arrayBuffer();
      if (response.status !== 200) throw Object.assign(new Error(`status ${response.status}`), { status: response.status });
    };
    const { served, refused } = await waves(60, 30, call);
    assert.ok(served > 0 && refused > 0, `some served (${served}), the rest refused (${refused})`);
    await waitFor(() => h.historyLines('claude').length === served, 'history of every served call');
    const spent = historySpend('claude');
    t.diagnostic(`spent ${spent} µ$ of ${LIMIT_MICROS} µ$ in ${served} answers`);
    assert.ok(spent <= LIMIT_MICROS, `spent ${spent} µ$ against a limit of ${LIMIT_MICROS} µ$ (${served} answers)`);
    for (const body of upstreamBodies('claude')) assert.equal(body.max_tokens, 4096);
  });

  it('n: 8 without a cap reserves eight default caps: spend stays at or under the limit', async (t) => {
    const client = openai('choices');
    const { served } = await waves(40, 20, () =>
      client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'choices: eight essays' }], n: 8 }),
    );
    assert.ok(served > 0, 'at least one served');
    await waitFor(() => h.historyLines('choices').length === served, 'history of every served call');
    const spent = historySpend('choices');
    t.diagnostic(`spent ${spent} µ$ of ${LIMIT_MICROS} µ$ in ${served} answers`);
    assert.ok(spent <= LIMIT_MICROS, `spent ${spent} µ$ against a limit of ${LIMIT_MICROS} µ$ (${served} answers of 8 choices)`);
  });

  it('a policy with cap_output_tokens: false sends the body as it came (the answer may then run past the reservation)', async () => {
    await openai('optout').chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'optout: hi' }] });
    const [body] = upstreamBodies('optout');
    assert.equal(body!.max_completion_tokens, undefined);
    assert.equal(body!.max_tokens, undefined);
  });

  it('a cap the client set is left alone, and a cap within it is honoured', async () => {
    await openai('shapes').chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'shapes: hi' }], max_tokens: 50 });
    const body = upstreamBodies('shapes').at(-1)!;
    assert.equal(body.max_tokens, 50);
    assert.equal(body.max_completion_tokens, undefined);
  });

  describe('caps and flags of the wrong shape are refused with 400 in the caller format, never read as absent', () => {
    const openaiCases: [string, Record<string, unknown>, string][] = [
      ['max_tokens as a string', { max_tokens: '20000' }, 'max_tokens'],
      ['max_tokens as a fraction', { max_tokens: 20000.5 }, 'max_tokens'],
      ['max_tokens 1e16', { max_tokens: 1e16 }, 'max_tokens'],
      ['max_completion_tokens negative', { max_completion_tokens: -5 }, 'max_completion_tokens'],
      ['max_completion_tokens zero', { max_completion_tokens: 0 }, 'max_completion_tokens'],
      ['n as a string', { n: '8' }, 'n'],
      ['n as a fraction', { n: 2.5 }, 'n'],
      ['n past 128', { n: 1000 }, 'n'],
    ];
    for (const [name, fields, param] of openaiCases) {
      it(`OpenAI SDK: ${name}`, async () => {
        const before = h.fake.requests.length;
        const error = await openai('shapes')
          .chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...fields } as never)
          .then(
            () => null,
            (thrown: unknown) => thrown,
          );
        assert.ok(error instanceof OpenAI.BadRequestError, `400, got ${String(error)}`);
        assert.equal(error.code, 'invalid_parameter');
        assert.equal(error.param, param);
        assert.match(error.message, new RegExp(`${param} must be a whole number from 1 to \\d+, got `));
        assert.equal(h.fake.requests.length, before, 'nothing went upstream');
      });
    }

    it('OpenAI SDK: stream as the string "true"', async () => {
      const error = await openai('shapes')
        .chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: 'true' } as never)
        .then(
          () => null,
          (thrown: unknown) => thrown,
        );
      assert.ok(error instanceof OpenAI.BadRequestError, `400, got ${String(error)}`);
      assert.equal(error.param, 'stream');
      assert.match(error.message, /stream must be true or false, got the string "true"/);
    });

    it('raw /v1/messages: max_tokens 1e300 and 1e16 (the SDK refuses to send them)', async () => {
      for (const value of ['1e300', '1e16', '10000000000000000']) {
        const response = await fetch(`${h.url}/v1/messages`, {
          method: 'POST',
          headers: { 'x-api-key': h.token('shapes'), 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
          body: `{"model":"claude-sonnet-4-20250514","messages":[{"role":"user","content":"hi"}],"max_tokens":${value}}`,
        });
        assert.equal(response.status, 400, value);
        const body = (await response.json()) as { type: string; error: { type: string; code: string; message: string } };
        assert.equal(body.error.code, 'invalid_parameter');
        assert.match(body.error.message, /^max_tokens must be a whole number from 1 to 2147483647, got (1e\+300|10000000000000000)$/);
      }
    });

    const anthropicCases: [string, unknown][] = [
      ['a string', '20000'],
      ['a fraction', 20000.5],
      ['negative', -1],
    ];
    for (const [name, value] of anthropicCases) {
      it(`Anthropic SDK: max_tokens ${name}`, async () => {
        const before = h.fake.requests.length;
        const error = await anthropic('shapes')
          .messages.create({ model: 'claude-sonnet-4-20250514', messages: [{ role: 'user', content: 'hi' }], max_tokens: value as number })
          .then(
            () => null,
            (thrown: unknown) => thrown,
          );
        assert.ok(error instanceof Anthropic.BadRequestError, `400, got ${String(error)}`);
        const body = error.error as { type: string; error: { type: string; code: string; message: string } };
        assert.equal(body.type, 'error');
        assert.equal(body.error.type, 'invalid_request_error');
        assert.equal(body.error.code, 'invalid_parameter');
        assert.match(body.error.message, /^max_tokens must be a whole number from 1 to 2147483647, got /);
        assert.equal(h.fake.requests.length, before, 'nothing went upstream');
      });
    }

    it('Anthropic SDK: stream as the string "true"', async () => {
      const error = await anthropic('shapes')
        .messages.create({ model: 'claude-sonnet-4-20250514', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, stream: 'true' as never })
        .then(
          () => null,
          (thrown: unknown) => thrown,
        );
      assert.ok(error instanceof Anthropic.BadRequestError, `400, got ${String(error)}`);
      assert.match((error.error as { error: { message: string } }).error.message, /stream must be true or false/);
    });
  });
});
