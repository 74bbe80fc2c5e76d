// OpenAI route end to end: the official openai SDK → tollgate → fake upstream, JSON and streaming, credentials swapped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import OpenAI from 'openai';
import { startHarness, PROVIDER_KEYS, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

describe('OpenAI chat completions through the proxy', () => {
  let h: Harness;
  let client: OpenAI;
  before(async () => {
    h = await startHarness({ agents: { a: {}, b: {} } });
    client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
  });
  after(() => h.close());

  it('relays a JSON completion, swapping the agent token for the provider key', async () => {
    const completion = await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 });
    assert.equal(completion.choices[0].message.content, 'hello from fake upstream');
    assert.equal(completion.usage?.completion_tokens, 50);
    const seen = h.fake.requests.at(-1)!;
    assert.equal(seen.path, '/v1/chat/completions');
    assert.equal(seen.headers.authorization, `Bearer ${PROVIDER_KEYS.openai}`);
    assert.equal(seen.body.model, 'gpt-4o');
    assert.ok(!JSON.stringify(seen.headers).includes('secret-a'), 'agent secret must not reach upstream');
  });

  it('streams, and strips the usage chunk the client did not ask for while still metering it', async () => {
    const before = h.fake.requests.length;
    const stream = await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 30 });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length >= 3);
    assert.ok(
      chunks.every((chunk) => chunk.choices.length > 0),
      'no usage-only chunk reaches a client that did not ask',
    );
    const seen = h.fake.requests[before];
    assert.deepEqual(seen.body.stream_options, { include_usage: true });
    await waitFor(() => h.historyLines('a').some((line) => line.stream === true));
    const entry = h.historyLines('a').find((line) => line.stream === true)!;
    assert.equal((entry.usage as Record<string, unknown>).completion_tokens, 30);
  });

  it('keeps the usage chunk when the client asked for it', async () => {
    const stream = await client.chat.completions.create({
      model: 'openai/gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage = null;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    assert.equal(usage?.completion_tokens, 20);
  });

  it('records history in the cllama entry format with the computed cost', async () => {
    await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'price me' }], max_tokens: 50 });
    await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes('price me')));
    const entry = h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes('price me'))!;
    assert.match(String(entry.id), /^hist1_[0-9a-f]{64}$/);
    assert.equal(entry.claw_id, 'a');
    assert.equal(entry.requested_model, 'openai/gpt-4o');
    assert.equal(entry.effective_provider, 'openai');
    assert.equal(entry.effective_model, 'gpt-4o');
    assert.equal(entry.status_code, 200);
    const usage = entry.usage as Record<string, number>;
    assert.equal(usage.prompt_tokens, 10);
    assert.equal(usage.completion_tokens, 50);
    // gpt-4o: 10 × $2.50/M + 50 × $10/M = 25 + 500 micro-dollars
    assert.equal(usage.cost_micros, 525);
    assert.equal(usage.reported_cost_usd, 0.000525);
  });

  it('answers auth failures with 401 in the OpenAI envelope and never calls upstream', async () => {
    const calls = h.fake.requests.length;
    for (const apiKey of ['a:wrong', 'nobody:x', '../etc:x', 'nocolon']) {
      const bad = new OpenAI({ baseURL: `${h.url}/v1`, apiKey, maxRetries: 0 });
      await assert.rejects(bad.chat.completions.create({ model: 'openai/gpt-4o', messages: [] }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.AuthenticationError, `401 for ${apiKey}`);
        assert.equal(typeof (error.error as { message?: string }).message, 'string');
        return true;
      });
    }
    assert.equal(h.fake.requests.length, calls);
  });

  it('rejects malformed JSON, unknown providers, bare or non-string models and bodies nested too deeply with 400', async () => {
    const post = (body: string) =>
      fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json' }, body });
    const malformed = await post('{"model": "openai/gpt-4o", ');
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as { error: { code: string } }).error.code, 'invalid_json');
    const bare = await post(JSON.stringify({ model: 'gpt-4o', messages: [] }));
    assert.equal(bare.status, 400);
    const missing = await post(JSON.stringify({ messages: [] }));
    assert.equal(missing.status, 400);
    const notAnObject = await post('[1,2]');
    assert.equal(notAnObject.status, 400);
    const numberModel = await post(JSON.stringify({ model: 5, messages: [] }));
    assert.equal(numberModel.status, 400);
    assert.equal(((await numberModel.json()) as { error: { message: string } }).error.message, 'model must be a string, got number');
    const calls = h.fake.requests.length;
    const deep = await post(`{"model":"openai/gpt-4o","messages":[{"role":"user","content":${'['.repeat(20_000)}${']'.repeat(20_000)}}]}`);
    assert.equal(deep.status, 400, "a body JSON.parse takes but JSON.stringify cannot is the caller's error, not a 500");
    assert.deepEqual(((await deep.json()) as { error: unknown }).error, {
      message: 'request body nested too deeply: objects and arrays deeper than 64 levels are refused (TOLLGATE_MAX_JSON_DEPTH)',
      type: 'invalid_request_error',
      param: null,
      code: 'body_too_deep',
    });
    const gzipped = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ model: 'openai/gpt-4o', messages: [] })),
    });
    assert.equal(gzipped.status, 400);
    assert.match(
      ((await gzipped.json()) as { error: { message: string } }).error.message,
      /compressed request bodies are not accepted \(content-encoding: gzip\)/,
    );
    assert.equal(h.fake.requests.length, calls, 'none reached the upstream');
    const plain = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json', 'content-encoding': 'identity' },
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'identity' }] }),
    });
    assert.equal(plain.status, 200);
    assert.equal(
      h.fake.requests.at(-1)!.headers['content-encoding'],
      undefined,
      "the body sent upstream is tollgate's own: the client's encoding header is not forwarded",
    );
  });

  it('records the body as sent (pretty-printed, big integers and all) on one history line', async () => {
    const text =
      '{\n  "model": "openai/gpt-4o",\n  "max_tokens": 3,\r\n  "metadata": {"trace": 12345678901234567890},\n  "messages": [{"role": "user", "content": "pretty\\nprinted"}]\n}';
    const response = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token('b')}`, 'content-type': 'application/json' },
      body: text,
    });
    assert.equal(response.status, 200);
    await response.text();
    await waitFor(() => h.historyLines('b').some((line) => JSON.stringify(line.request_original).includes('pretty')));
    const raw = h
      .historyText('b')
      .split('\n')
      .find((line) => line.includes('pretty'))!;
    assert.ok(raw.includes('"trace": 12345678901234567890'), 'the number is kept as the agent wrote it, not rounded by a parse');
    const entry = JSON.parse(raw) as Record<string, unknown>;
    assert.deepEqual(entry.request_original, JSON.parse(text));
    assert.equal((entry.request_effective as { model: string }).model, 'gpt-4o');
    assert.equal((entry.response as { format: string }).format, 'json');
  });

  it('falls back to OpenRouter for an unregistered vendor prefix', async () => {
    await client.chat.completions.create({ model: 'meta-llama/llama-3-70b', messages: [{ role: 'user', content: 'x' }] });
    const seen = h.fake.requests.at(-1)!;
    assert.equal(seen.body.model, 'meta-llama/llama-3-70b');
    assert.equal(seen.headers.authorization, `Bearer ${PROVIDER_KEYS.openrouter}`);
  });

  it('audits every call as one JSON event per outcome, with no key or secret in any line', async () => {
    await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'audit me' }], max_tokens: 7 });
    await waitFor(() => h.events.some((event) => event.type === 'response' && event.tokens_out === 7), 'response event');
    const response = h.events.find((event) => event.type === 'response' && event.tokens_out === 7)!;
    assert.equal(response.claw_id, 'a');
    assert.equal(response.model, 'openai/gpt-4o');
    assert.equal(response.status_code, 200);
    assert.equal(response.tokens_in, 10);
    assert.equal(response.intervention, null);
    assert.equal(typeof response.latency_ms, 'number');
    assert.equal(typeof response.cost_usd, 'number');
    assert.ok(h.events.some((event) => event.type === 'request' && event.claw_id === 'a'));
    const everything = JSON.stringify(h.events);
    for (const secret of [...Object.values(PROVIDER_KEYS), 'secret-a']) assert.ok(!everything.includes(secret), `audit log leaks ${secret}`);
  });

  it('passes upstream errors through with their status', async () => {
    h.fake.behavior = { status: 500, errorBody: { error: { message: 'upstream exploded', type: 'server_error' } } };
    try {
      await assert.rejects(client.chat.completions.create({ model: 'openai/gpt-4o', messages: [] }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.InternalServerError);
        assert.match(String((error as Error).message), /upstream exploded/);
        return true;
      });
    } finally {
      h.fake.behavior = {};
    }
  });

  it('relays the upstream request id for the SDK, adds its own, and records both', async () => {
    const { response } = await client.chat.completions
      .create(
        { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'ids' }] },
        { headers: { 'x-fake-behavior': JSON.stringify({ requestId: 'req_upstream_42' }) } },
      )
      .withResponse();
    assert.equal(response.headers.get('x-request-id'), 'req_upstream_42', "the provider's id, as the SDK shows it for support tickets");
    const ours = response.headers.get('x-tollgate-request-id');
    assert.match(ours ?? '', /^[0-9a-f-]{36}$/);
    await waitFor(() => h.historyText('a').includes('req_upstream_42'));
    const entry = h.historyLines('a').find((line) => line.upstream_request_id === 'req_upstream_42')!;
    assert.equal(entry.request_id, ours);
    await waitFor(() => h.events.some((event) => event.type === 'response' && event.upstream_request_id === 'req_upstream_42'));
    const plain = await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'no upstream id' }] }).withResponse();
    assert.equal(plain.response.headers.get('x-request-id'), plain.response.headers.get('x-tollgate-request-id'), 'without one from upstream, ours in both');
  });

  it('masks the provider key in an upstream answer that echoes it, for the agent and in history', async () => {
    const key = PROVIDER_KEYS.openai;
    // a 400 is relayed (a 401 is not: the key pool takes the key out, docs/providers.md; key-pool.test.ts)
    h.fake.behavior = { status: 400, errorBody: { error: { message: `Incorrect API key provided: ${key}. Check ${key}`, type: 'invalid_request_error' } } };
    try {
      await assert.rejects(
        client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'echoed key' }] }),
        (error: unknown) => {
          assert.equal((error as { status: number }).status, 400);
          assert.equal((error as Error).message, '400 Incorrect API key provided: [REDACTED]. Check [REDACTED]');
          return true;
        },
      );
    } finally {
      h.fake.behavior = {};
    }
    const echoed = await client.chat.completions.create(
      { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'echo' }] },
      { headers: { 'x-fake-behavior': JSON.stringify({ content: `my key is ${key}` }) } },
    );
    assert.equal(echoed.choices[0].message.content, 'my key is [REDACTED]', 'an answer read whole is masked too');
    await waitFor(() => h.historyText('a').includes('my key is [REDACTED]'));
    assert.ok(!h.historyText('a').includes(key), 'history never holds the key');
  });
});
