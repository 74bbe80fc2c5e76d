// What a request may hold while it arrives, from the attacker's side: unfinished uploads are cut after the body
// timeout and their bytes given back, chunked bodies are counted as they come, a refused caller cannot keep its
// connection by dripping, and connections past the cap are refused in the route's format.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { completeAnswer, openIdleConnection, sendRaw } from '../helpers/raw-http.ts';
import { waitFor } from '../helpers/wait.ts';

const MiB = 1024 * 1024;

/** A request head for `path` as agent `token`, with these framing headers. */
function head(input: { path: string; token: string; framing: string }): string {
  const auth = input.path === '/v1/messages' ? `x-api-key: ${input.token}\r\nanthropic-version: 2023-06-01` : `Authorization: Bearer ${input.token}`;
  return `POST ${input.path} HTTP/1.1\r\nHost: x\r\n${auth}\r\ncontent-type: application/json\r\n${input.framing}\r\n\r\n`;
}

/** The start of a JSON body whose user message is `chars` x's (the closing `"}]}` is left to the caller). */
function bodyStart(model: string, chars: number): string {
  return `{"model":"${model}","max_tokens":5,"messages":[{"role":"user","content":"${'x'.repeat(chars)}`;
}

const BODY_END = '"}]}';

async function bytesInFlight(url: string): Promise<number> {
  const health = (await (await fetch(`${url}/health`)).json()) as { bytes_in_flight: number };
  return health.bytes_in_flight;
}

async function waitForBytesInFlight(url: string, check: (bytes: number) => boolean, label: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (check(await bytesInFlight(url))) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`bytes in flight never reached: ${label} (now ${await bytesInFlight(url)})`);
}

/** A chunked upload kept open: write chunks, then end it (terminator) and read the answer, or leave it. */
function chunkedUpload(url: string, first: string): { socket: Socket; write(text: string): void; finish(): Promise<ReturnType<typeof completeAnswer>> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (chunk) => {
    received += chunk.toString('latin1');
  });
  const writeChunk = (text: string) => socket.write(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`);
  socket.write(first);
  return {
    socket,
    write: writeChunk,
    finish: async () => {
      socket.write('0\r\n\r\n');
      await waitFor(() => completeAnswer(received) !== null, 'an answer');
      return completeAnswer(received);
    },
  };
}

describe('bytes in flight and the body timeout', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: { a: {}, b: {}, c: {} },
      env: {
        TOLLGATE_BODY_TIMEOUT_MS: '3000',
        TOLLGATE_MAX_BODY_BYTES: String(2 * MiB),
        TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT: String(4 * MiB),
        TOLLGATE_MAX_BYTES_IN_FLIGHT: String(16 * MiB),
      },
    });
  });
  after(() => h.close());

  it("unfinished uploads are cut with 408 in each route's format after the body timeout, and their bytes are given back", async () => {
    const declared = 2 * MiB;
    const partial = bodyStart('openai/gpt-4o', declared - 4096);
    const uploads = [
      sendRaw(
        h.url,
        head({ path: '/v1/messages', token: h.token('a'), framing: `content-length: ${declared}` }) + partial.replace('openai/gpt-4o', 'claude-sonnet-4-5'),
        { giveUpMs: 15_000 },
      ),
      sendRaw(h.url, head({ path: '/v1/chat/completions', token: h.token('a'), framing: `content-length: ${declared}` }) + partial, { giveUpMs: 15_000 }),
    ];
    // both declared lengths are held: the agent's share (4 MiB) is full, and its next call is refused, not admitted
    await waitForBytesInFlight(h.url, (bytes) => bytes === 2 * declared, 'both uploads held');
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError);
      assert.equal(error.status, 429);
      assert.equal((error.error as { code: string }).code, 'agent_capacity_exhausted');
      return true;
    });
    const [anthropic, openai] = await Promise.all(uploads);
    for (const answer of [anthropic, openai]) {
      assert.equal(answer.status, 408);
      assert.equal(answer.headers['x-should-retry'], 'true');
      assert.equal(answer.headers.connection, 'close');
      assert.ok(answer.closed, 'the proxy closed the connection');
    }
    const anthropicBody = JSON.parse(anthropic.body) as { type: string; error: { type: string; code: string; message: string } };
    assert.deepEqual([anthropicBody.type, anthropicBody.error.type, anthropicBody.error.code], ['error', 'timeout_error', 'request_timeout']);
    assert.match(anthropicBody.error.message, /did not arrive whole within 3000 ms of its headers \(TOLLGATE_BODY_TIMEOUT_MS\)/);
    const openaiBody = JSON.parse(openai.body) as { error: { type: string; code: string } };
    assert.deepEqual([openaiBody.error.type, openaiBody.error.code], ['invalid_request_error', 'request_timeout']);

    await waitForBytesInFlight(h.url, (bytes) => bytes === 0, 'all given back');
    const whole = await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'y'.repeat(declared - 200) }] });
    assert.equal(whole.choices.length, 1, 'a body as large as the cut ones is admitted again');
  });

  it("a chunked body is counted as it arrives: one that would pass the agent's share is refused part-way with 429", async () => {
    const upload = () => {
      const started = chunkedUpload(h.url, head({ path: '/v1/chat/completions', token: h.token('b'), framing: 'transfer-encoding: chunked' }));
      started.write(bodyStart('openai/gpt-4o', 0));
      for (let i = 0; i < 3; i++) started.write('x'.repeat(MiB / 2));
      return started;
    };
    // two uploads of 1.5 MiB each, left open: 3 MiB of the agent's 4 MiB share
    const open = [upload()];
    await waitForBytesInFlight(h.url, (bytes) => bytes >= 1.5 * MiB, 'the first open upload counted');
    open.push(upload());
    await waitForBytesInFlight(h.url, (bytes) => bytes >= 3 * MiB, 'both open uploads counted');

    const third = upload();
    third.write(BODY_END);
    const refused = await third.finish();
    assert.equal(refused?.status, 429);
    assert.equal(refused?.headers['retry-after-ms'], '1000');
    assert.equal((JSON.parse(refused!.body) as { error: { code: string } }).error.code, 'agent_capacity_exhausted');
    third.socket.destroy();

    for (const upload of open) {
      upload.write(BODY_END);
      const served = await upload.finish();
      assert.equal(served?.status, 200, 'the uploads within the share are served');
      upload.socket.destroy();
    }
    await waitForBytesInFlight(h.url, (bytes) => bytes === 0, 'all given back');
  });

  it("an answer read whole is held as it arrives: one larger than the agent's share fails with 429, told not to retry", async () => {
    const response = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token('c')}`, 'content-type': 'application/json', 'x-fake-behavior': JSON.stringify({ contentChars: 5 * MiB }) },
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'a very long answer' }] }),
    });
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('x-should-retry'), 'false');
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'agent_capacity_exhausted');
    assert.match(body.error.message, /this call needs more than the 4194304 bytes one agent may hold in flight/);
    assert.equal(await bytesInFlight(h.url), 0);
  });

  it("a compressed answer is held at its decompressed size: one inflating past the agent's share fails with 429", async () => {
    const response = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.token('c')}`,
        'content-type': 'application/json',
        'x-fake-behavior': JSON.stringify({ gzip: true, contentChars: 5 * MiB }),
      },
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'a small gzip answer that inflates to 5 MiB' }] }),
    });
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('x-should-retry'), 'false');
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'agent_capacity_exhausted');
    assert.equal(await bytesInFlight(h.url), 0);
  });

  it("an endless SSE event is held while the parser keeps it: past the agent's share the stream ends with an error event", async () => {
    const response = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.token('c')}`,
        'content-type': 'application/json',
        'x-fake-behavior': JSON.stringify({ unendedEventChars: 6 * MiB }),
      },
      body: JSON.stringify({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'one event that never ends' }] }),
    });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.ok(text.length < 6 * MiB, 'cut before the whole event was read');
    const lastEvent = text.slice(text.lastIndexOf('event: error'));
    assert.match(
      lastEvent,
      /^event: error\ndata: \{"error":\{"message":"[^"]*TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT[^"]*","type":"server_error","code":"upstream_error"\}\}\n\n$/,
    );
    await waitForBytesInFlight(h.url, (bytes) => bytes === 0, 'all given back');
  });

  it("a stream larger than the agent's share reaches the client whole; history keeps what the share holds", async () => {
    const event = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'z'.repeat(1000) } }] })}\n\n`;
    const rawBody = event.repeat(Math.ceil((5 * MiB) / event.length)) + 'data: [DONE]\n\n';
    const entriesBefore = h.historyLines('c').length;
    h.fake.behavior = { rawBody }; // too large for the per-request behaviour header
    try {
      const response = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.token('c')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'a very long stream' }] }),
      });
      assert.equal(response.status, 200);
      assert.equal(await response.text(), rawBody, 'the client gets every byte');
    } finally {
      h.fake.behavior = {};
    }
    await waitFor(() => h.historyLines('c').length > entriesBefore, "the stream's history entry");
    const entry = h.historyLines('c').at(-1)!;
    assert.equal(entry.response_truncated, true);
    assert.ok(String((entry.response as { text: string }).text).length <= 4 * MiB);
    assert.equal(await bytesInFlight(h.url), 0);
  });

  it('an unknown caller is refused before its body is read, and cannot keep the connection by dripping the body', async () => {
    const answer = await sendRaw(h.url, head({ path: '/v1/chat/completions', token: 'nobody:guess', framing: `content-length: ${MiB}` }) + '{"model":', {
      dripEveryMs: 50,
      giveUpMs: 10_000,
    });
    assert.equal(answer.status, 401);
    assert.ok(answer.closed, 'cut by the body timeout, not held until the request timeout');
    assert.equal(await bytesInFlight(h.url), 0, 'nothing was held for it');
  });
});

describe('an answer the client does not read', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: { r: {} },
      env: { TOLLGATE_MAX_BODY_BYTES: String(8 * MiB), TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT: String(16 * MiB), CLLAMA_STREAM_IDLE_TIMEOUT_MS: '1500' },
    });
  });
  after(() => h.close());

  it('holds its bytes until it has left the process, and the client is cut once it reads nothing for the idle timeout', async () => {
    const body = '{"model":"openai/gpt-4o","messages":[{"role":"user","content":"a long answer, never read"}]}';
    const socket = connect(Number(new URL(h.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.pause(); // reads nothing: the 12 MiB answer waits in the proxy's socket buffer (the kernel's takes a few MiB)
    socket.write(
      head({
        path: '/v1/chat/completions',
        token: h.token('r'),
        framing: `content-length: ${body.length}\r\nx-fake-behavior: ${JSON.stringify({ contentChars: 12 * MiB })}`,
      }) + body,
    );
    try {
      await waitForBytesInFlight(h.url, (bytes) => bytes >= 12 * MiB, 'the unread answer held');
      const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('r'), maxRetries: 0 });
      const sixMiB = () => client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'y'.repeat(6 * MiB) }] });
      await assert.rejects(sixMiB(), (error: unknown) => {
        assert.equal((error as { status?: number }).status, 429, "the unread answer still counts against the agent's share");
        return true;
      });
      await waitForBytesInFlight(h.url, (bytes) => bytes === 0, 'the stalled reader cut and its bytes given back');
      assert.equal((await sixMiB()).choices.length, 1);
    } finally {
      socket.destroy();
    }
  });
});

describe('the connection cap', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: {} }, env: { TOLLGATE_MAX_CONNECTIONS: '4' } });
  });
  after(() => h.close());

  it("a connection past the cap is answered 503 too_many_connections in the route's format and closed; a silent one is closed", async () => {
    const idle = await Promise.all(Array.from({ length: 4 }, () => openIdleConnection(h.url)));
    try {
      const request = (path: string, body: string) => head({ path, token: h.token('a'), framing: `content-length: ${body.length}` }) + body;
      const anthropic = await sendRaw(h.url, request('/v1/messages', '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}'));
      assert.equal(anthropic.status, 503);
      assert.deepEqual([anthropic.headers['x-should-retry'], anthropic.headers['retry-after'], anthropic.headers['retry-after-ms']], ['true', '1', '1000']);
      assert.ok(anthropic.closed);
      const anthropicBody = JSON.parse(anthropic.body) as { type: string; error: { type: string; code: string; message: string } };
      assert.deepEqual([anthropicBody.type, anthropicBody.error.type, anthropicBody.error.code], ['error', 'overloaded_error', 'too_many_connections']);
      assert.match(anthropicBody.error.message, /TOLLGATE_MAX_CONNECTIONS/);

      const openai = await sendRaw(h.url, request('/v1/chat/completions', '{"model":"openai/gpt-4o","messages":[]}'));
      assert.equal(openai.status, 503);
      assert.deepEqual((JSON.parse(openai.body) as { error: { type: string; code: string } }).error, {
        message: anthropicBody.error.message,
        type: 'server_error',
        param: null,
        code: 'too_many_connections',
      });
      assert.equal(h.fake.requests.length, 0, 'nothing reached the upstream');

      const silent = connect(Number(new URL(h.url).port), '127.0.0.1');
      silent.on('error', () => undefined);
      let silentClosed = false;
      silent.on('close', () => {
        silentClosed = true;
      });
      await waitFor(() => silentClosed, 'the silent connection past the cap to be closed');
    } finally {
      for (const socket of idle) socket.destroy();
    }
    // /health says how many connections are open (it is refused itself while the cap is full)
    for (let i = 0; i < 300; i++) {
      const health = await fetch(`${h.url}/health`).then(
        (response) => (response.status === 200 ? (response.json() as Promise<{ connections: number }>) : null),
        () => null,
      );
      if (health && health.connections <= 4) break;
      if (i === 299) assert.fail('/health never answered with the cap freed');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // the freed places are taken again: an SDK call retries on the 503's signals until it gets one
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 5 });
    const completion = await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices.length, 1);
  });
});
