// What node:http rejects itself (oversized headers, malformed HTTP, a request that takes too long to arrive) is answered
// in the route's wire format, nothing is charged or held, and the proxy keeps serving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { sendRaw } from '../helpers/raw-http.ts';
import { waitFor } from '../helpers/wait.ts';

describe('errors node:http raises before a request reaches the pipeline', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: { budget: { limit_usd: 10, window: '1h', max_concurrent: 1 } } }, env: { TOLLGATE_REQUEST_TIMEOUT_MS: '400' } });
  });
  after(() => h.close());

  it('431 in the OpenAI envelope for a token far over the header limit, through the openai SDK', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: `a:${'s'.repeat(20_000)}`, maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError);
      assert.equal(error.status, 431);
      assert.equal((error.error as { code?: string }).code, 'headers_too_large');
      assert.match(error.message, /request headers too large/);
      return true;
    });
  });

  it('431 in the Anthropic envelope on /v1/messages, through the Anthropic SDK', async () => {
    const client = new Anthropic({ baseURL: h.url, apiKey: `a:${'s'.repeat(20_000)}`, maxRetries: 0 });
    await assert.rejects(
      client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
      (error: unknown) => {
        assert.ok(error instanceof Anthropic.APIError);
        assert.equal(error.status, 431);
        assert.deepEqual((error.error as { type: string; error: { type: string; code: string } }).error.code, 'headers_too_large');
        assert.equal((error.error as { type: string }).type, 'error');
        return true;
      },
    );
  });

  it('400 malformed_http for bytes that are not HTTP, with a JSON body and the connection closed', async () => {
    const answer = await sendRaw(h.url, 'HELLO THERE\r\n\r\n');
    assert.equal(answer.status, 400);
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.equal(answer.headers.connection, 'close');
    assert.ok(answer.closed, 'the proxy closed the connection after answering');
    const body = JSON.parse(answer.body) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'malformed_http');
    assert.match(body.error.message, /^malformed HTTP request \(HPE_/);
  });

  for (const [path, envelope] of [
    ['/v1/messages', 'anthropic'],
    ['/v1/chat/completions', 'openai'],
  ] as const) {
    it(`408 in the ${envelope} envelope for headers dripped slower than the request timeout on ${path}`, async () => {
      const answer = await sendRaw(h.url, `POST ${path} HTTP/1.1\r\nHost: x\r\nx-slow: `, { dripEveryMs: 50 });
      assert.equal(answer.status, 408);
      assert.equal(answer.headers['x-should-retry'], 'true');
      assert.ok(answer.closed);
      const body = JSON.parse(answer.body) as { type?: string; error: { type: string; code: string; message: string } };
      if (envelope === 'anthropic') assert.deepEqual([body.type, body.error.type, body.error.code], ['error', 'timeout_error', 'request_timeout']);
      else assert.deepEqual([body.type, body.error.type, body.error.code], [undefined, 'invalid_request_error', 'request_timeout']);
      assert.match(body.error.message, /within 400 ms \(TOLLGATE_REQUEST_TIMEOUT_MS\)/);
    });
  }

  it("400 through the request's own response when a chunked body breaks while the pipeline reads it", async () => {
    const answer = await sendRaw(
      h.url,
      [
        'POST /v1/messages HTTP/1.1',
        'Host: x',
        `x-api-key: ${h.token('a')}`,
        'content-type: application/json',
        'Transfer-Encoding: chunked',
        '',
        'zz',
        'not a chunk',
        '',
      ].join('\r\n'),
    );
    assert.equal(answer.status, 400);
    const body = JSON.parse(answer.body) as { type: string; request_id: string; error: { type: string; code: string } };
    assert.deepEqual([body.type, body.error.type, body.error.code], ['error', 'invalid_request_error', 'malformed_http']);
    assert.match(String(body.request_id), /^[0-9a-f-]{36}$/, "answered by the pipeline, with the call's request id");
    assert.ok(answer.closed);
  });

  it('408 for a body dripped slower than TOLLGATE_REQUEST_TIMEOUT_MS; its reservation is not held and nothing is charged', async () => {
    const before = h.events.length;
    const answer = await sendRaw(
      h.url,
      [
        'POST /v1/chat/completions HTTP/1.1',
        'Host: x',
        `Authorization: Bearer ${h.token('a')}`,
        'content-type: application/json',
        'content-length: 100000',
        '',
        '{"model":"openai/gpt-4o","messages":[',
      ].join('\r\n'),
      { dripEveryMs: 50 },
    );
    assert.equal(answer.status, 408);
    assert.equal(answer.headers['x-should-retry'], 'true');
    const body = JSON.parse(answer.body) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'request_timeout');
    assert.match(body.error.message, /within 400 ms \(TOLLGATE_REQUEST_TIMEOUT_MS\)/);
    // max_concurrent 1: a call held by the dripped one would be refused
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
    const ok = await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'after the drip' }] });
    assert.equal(ok.choices.length, 1);
    assert.equal(h.fake.requests.length, 1, 'only the call after the drip reached the upstream');
    assert.ok(h.events.slice(before).every((event) => event.type !== 'response' || event.status_code === 200));
    const failed = h.events.slice(before).filter((event) => event.type === 'error');
    assert.deepEqual(
      failed.map((event) => [event.claw_id, event.code, event.status_code]),
      [['a', 'request_timeout', 408]],
      'the audit log names the agent and what happened',
    );
  });

  it('a client that leaves mid-body is recorded as client_closed (499), not as an internal error', async () => {
    const before = h.events.length;
    const { hostname, port } = new URL(h.url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => undefined);
    socket.write(
      ['POST /v1/chat/completions HTTP/1.1', 'Host: x', `Authorization: Bearer ${h.token('a')}`, 'content-length: 500', '', '{"model":'].join('\r\n'),
    );
    // leave only once the proxy holds the body's first bytes for agent a (a fixed sleep lost that race on a loaded machine)
    for (let tries = 0; (await bytesInFlight(h.url)) === 0; tries++) {
      assert.ok(tries < 1500, 'the proxy never started reading the body');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    socket.destroy();
    await waitFor(() => h.events.slice(before).some((event) => event.type === 'error'));
    const failed = h.events.slice(before).filter((event) => event.type === 'error');
    assert.deepEqual(
      failed.map((event) => [event.claw_id, event.code, event.status_code]),
      [['a', 'client_closed', 499]],
    );
  });

  it('a long-streamed answer is not cut by the request timeout: it bounds the request, not the response', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
    const stream = await client.chat.completions.create(
      { model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'slow stream' }] },
      { headers: { 'x-fake-behavior': JSON.stringify({ chunkGapMs: 150, chunks: 6 }) } },
    );
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
  });
});

async function bytesInFlight(url: string): Promise<number> {
  const health = (await (await fetch(`${url}/health`)).json()) as { bytes_in_flight: number };
  return health.bytes_in_flight;
}
