// Every metered route of the protocol registry, JSON and streamed: admitted before dispatch, settled once, recorded, refused in its own envelope.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOLS } from '../../src/protocol/index.ts';
import type { ProtocolName } from '../../src/protocol/protocol.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

/** How an agent calls each route. A route added to the registry without a line here fails this suite. */
const CALLS: Record<ProtocolName, { model: string; auth: (token: string) => Record<string, string>; body: (marker: string) => Record<string, unknown> }> = {
  chat: {
    model: 'openai/gpt-4o',
    auth: (token) => ({ authorization: `Bearer ${token}` }),
    body: (marker) => ({ messages: [{ role: 'user', content: marker }], max_tokens: 40 }),
  },
  messages: {
    model: 'claude-sonnet-4-20250514',
    auth: (token) => ({ 'x-api-key': token, 'anthropic-version': '2023-06-01' }),
    body: (marker) => ({ messages: [{ role: 'user', content: marker }], max_tokens: 40 }),
  },
  responses: { model: 'openai/gpt-4o', auth: (token) => ({ authorization: `Bearer ${token}` }), body: (marker) => ({ input: marker, max_output_tokens: 40 }) },
};

const HOUR = 3_600_000;

describe('route conformance: every metered route', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: { a: { budget: { limit_usd: 10, window: '1h' } }, z: { budget: { limit_usd: 0.000001, window: '1h', behavior: 'hard_stop' } } },
    });
  });
  after(() => h.close());

  const standing = async () =>
    (await h.tollgate.ledger.standing([{ id: 'usd', scope: 'agent:a', metric: 'usd_micros', windowMs: HOUR, limit: 10_000_000 }]))[0];
  const call = (name: ProtocolName, input: { agent: string; marker: string; stream: boolean; behavior?: Record<string, unknown> }) => {
    const spec = CALLS[name];
    const path = PROTOCOLS.find((protocol) => protocol.name === name)!.path;
    return fetch(`${h.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...spec.auth(h.token(input.agent)),
        ...(input.behavior ? { 'x-fake-behavior': JSON.stringify(input.behavior) } : {}),
      },
      body: JSON.stringify({ model: spec.model, ...spec.body(input.marker), stream: input.stream }),
    });
  };

  it('knows how to call every route in the registry', () => {
    for (const protocol of PROTOCOLS) assert.ok(CALLS[protocol.name], `no conformance call for ${protocol.name} (${protocol.path})`);
  });

  for (const protocol of PROTOCOLS) {
    for (const stream of [false, true]) {
      const label = `${protocol.path} ${stream ? 'streamed' : 'JSON'}`;

      it(`${label}: reserved while upstream works, settled once to its cost, recorded`, async () => {
        const marker = `conformance ${protocol.name} ${stream}`;
        const before = await standing();
        const pending = call(protocol.name, { agent: 'a', marker, stream, behavior: { hold: true } });
        await waitFor(() => h.fake.held === 1);
        const during = await standing();
        assert.ok(during.reserved > before.reserved, 'a reservation is held before the upstream answers');
        h.fake.releaseHeld();
        const answer = await pending;
        assert.equal(answer.status, 200);
        await answer.text();
        await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes(marker)));
        const entry = h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes(marker))!;
        assert.equal(entry.path, protocol.path);
        assert.equal(entry.stream, stream);
        const cost = (entry.usage as { cost_micros: number }).cost_micros;
        assert.ok(cost > 0);
        const afterCall = await standing();
        assert.equal(afterCall.used - before.used, cost, 'settled exactly once, to the recorded cost');
        assert.equal(afterCall.reserved, before.reserved, 'nothing left held');
        await waitFor(() => h.events.some((e) => e.type === 'response' && e.request_id === entry.request_id), 'response event');
        assert.equal(h.events.filter((e) => e.type === 'response' && e.request_id === entry.request_id).length, 1);
      });

      it(`${label}: refused before dispatch in its own envelope, with the budget object and x-should-retry`, async () => {
        const calls = h.fake.requests.length;
        const answer = await call(protocol.name, { agent: 'z', marker: 'refused', stream });
        const body = (await answer.json()) as Record<string, unknown> & { error: Record<string, unknown>; budget?: Record<string, unknown> };
        assert.equal(answer.status, 429);
        assert.equal(answer.headers.get('x-should-retry'), 'false');
        assert.equal(body.budget?.behavior, 'hard_stop');
        if (protocol.errorFamily === 'anthropic') assert.deepEqual([body.type, body.error.type], ['error', 'rate_limit_error']);
        else assert.deepEqual([body.error.type, body.error.code], ['budget_exceeded', 'budget_exceeded']);
        assert.equal(h.fake.requests.length, calls, 'never dispatched');
      });
    }
  }
});
