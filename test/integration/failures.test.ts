// Bad input and misbehaving upstreams: every failure gets its documented status in the caller's format, the proxy keeps serving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { PROVIDER_KEYS, startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

describe('failures', () => {
  let h: Harness;
  let client: OpenAI;
  before(async () => {
    h = await startHarness({
      agents: { a: {} },
      env: {
        TOLLGATE_MAX_BODY_BYTES: '2048',
        TOLLGATE_MAX_RESPONSE_BYTES: '2048',
        CLLAMA_STREAM_IDLE_TIMEOUT_MS: '150',
        CLLAMA_STREAM_FIRST_BYTE_TIMEOUT_MS: '300',
        CLLAMA_DISPATCH_CANDIDATE_TIMEOUT_MS: '400',
      },
    });
    client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
  });
  after(() => h.close());
  const ask = (extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'x' }], ...extra } as never, { headers });

  it('413 for a body over the limit', async () => {
    await assert.rejects(ask({ messages: [{ role: 'user', content: 'x'.repeat(5000) }] }), (error: unknown) => {
      assert.equal((error as { status: number }).status, 413);
      return true;
    });
  });

  it('502 when the upstream resets the connection, and the next call still works', async () => {
    await assert.rejects(
      ask({ messages: [{ role: 'user', content: 'reset before answer' }] }, { 'x-fake-behavior': JSON.stringify({ reset: true }) }),
      (error: unknown) => {
        assert.equal((error as { status: number }).status, 502);
        assert.match(
          (error as Error).message,
          /upstream request failed: the upstream closed the connection before its response was complete \(UND_ERR_SOCKET\)/,
        );
        return true;
      },
    );
    const ok = await ask({ messages: [{ role: 'user', content: 'after the reset' }] });
    assert.equal(ok.choices.length, 1);
    await waitFor(() => h.historyText('a').includes('after the reset'));
    assert.ok(!h.historyText('a').includes('reset before answer'), 'a connection reset before any answer is not taken as work done, nor charged');
  });

  it('504 when a non-streamed upstream stalls past the deadline; the prompt upstream received is charged', async () => {
    await assert.rejects(
      ask({ messages: [{ role: 'user', content: 'stall json' }] }, { 'x-fake-behavior': JSON.stringify({ stall: true }) }),
      (error: unknown) => {
        assert.equal((error as { status: number }).status, 504);
        return true;
      },
    );
    await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes('stall json')));
    const entry = h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes('stall json'))!;
    assert.equal(entry.outcome, 'upstream_cut');
    const usage = entry.usage as Record<string, unknown>;
    assert.ok(Number(usage.prompt_tokens) > 0 && usage.completion_tokens === 0 && usage.estimated === true, JSON.stringify(usage));
    await waitFor(() => h.events.some((e) => e.type === 'error' && e.code === 'upstream_timeout'));
    const event = h.events.find((e) => e.type === 'error' && e.code === 'upstream_timeout')!;
    assert.equal(event.cost_micros, usage.cost_micros, 'the error event carries the charge, for metrics and cost totals');
    assert.equal(event.upstream_model, 'gpt-4o');
  });

  it('charges the prompt of a non-streamed call the client gives up on, and records it as client_aborted', async () => {
    const controller = new AbortController();
    const pending = fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      signal: controller.signal,
      headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json', 'x-fake-behavior': JSON.stringify({ delayMs: 300 }) },
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'give up on me' }] }),
    });
    await waitFor(() => h.fake.requests.some((request) => JSON.stringify(request.body).includes('give up on me')));
    controller.abort();
    await assert.rejects(pending);
    await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes('give up on me')));
    const entry = h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes('give up on me'))!;
    assert.equal(entry.outcome, 'client_aborted');
    assert.equal((entry.usage as Record<string, unknown>).estimated, true);
    const ok = await ask();
    assert.equal(ok.choices.length, 1);
  });

  it('cuts a stalled stream with an error event, and charges what was consumed', async () => {
    const response = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json', 'x-fake-behavior': JSON.stringify({ stallAfterChunks: 2 }) },
      body: JSON.stringify({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'stall please' }] }),
    });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /event: error/);
    assert.match(text, /idle timeout/);
    await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes('stall please')));
    const entry = h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes('stall please'))!;
    assert.equal(entry.outcome, 'upstream_cut');
    assert.ok(Number((entry.usage as Record<string, number>).completion_tokens) > 0);
  });

  it('ends a stream the upstream resets mid-way with an error event, charges it, and keeps serving', async () => {
    const response = await fetch(`${h.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': h.token('a'), 'content-type': 'application/json', 'x-fake-behavior': JSON.stringify({ cutAfterChunks: 4 }) },
      body: JSON.stringify({ model: 'claude-sonnet-4-20250514', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'reset me' }] }),
    });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /event: message_start/);
    assert.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"upstream stream failed"\}\}/);
    await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes('reset me')));
    const entry = h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes('reset me'))!;
    assert.equal(entry.outcome, 'upstream_cut');
    assert.equal((entry.usage as Record<string, number>).prompt_tokens, 10, 'input usage from message_start is charged');
    const ok = await ask();
    assert.equal(ok.choices.length, 1);
  });

  it('survives a client that disconnects mid-stream', async () => {
    const controller = new AbortController();
    const response = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      signal: controller.signal,
      headers: {
        authorization: `Bearer ${h.token('a')}`,
        'content-type': 'application/json',
        'x-fake-behavior': JSON.stringify({ chunkGapMs: 50, chunks: 20 }),
      },
      body: JSON.stringify({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'abort me' }] }),
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes('abort me')));
    const entry = h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes('abort me'))!;
    assert.equal(entry.outcome, 'client_aborted');
    const ok = await ask();
    assert.equal(ok.choices.length, 1);
  });

  it('502 for a JSON answer over the response limit; a stream over it is relayed whole and kept in history up to it', async () => {
    await assert.rejects(ask({}, { 'x-fake-behavior': JSON.stringify({ content: 'x'.repeat(4000) }) }), (error: unknown) => {
      assert.equal((error as { status: number }).status, 502);
      assert.equal((error as { code: string }).code, 'upstream_response_too_large');
      return true;
    });
    const stream = await ask({ stream: true, messages: [{ role: 'user', content: 'long stream' }] }, { 'x-fake-behavior': JSON.stringify({ chunks: 40 }) });
    let text = '';
    for await (const chunk of stream as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, Array.from({ length: 40 }, (_, i) => `tok${i} `).join(''), 'the client gets every chunk');
    await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes('long stream')));
    const entry = h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes('long stream'))!;
    assert.equal(entry.response_truncated, true);
    const kept = (entry.response as { text: string }).text;
    assert.ok(kept.length <= 2048);
    const tokens = [...kept.matchAll(/tok(\d+) /g)].map((match) => Number(match[1]));
    assert.deepEqual(
      tokens,
      tokens.map((_, i) => i),
      'the kept text is the beginning of the stream, without gaps',
    );
    assert.ok(!kept.includes('[DONE]'), 'nothing after the cut is appended');
    assert.equal((entry.usage as Record<string, number>).prompt_tokens, 10, 'usage is read from the whole stream, not the kept part');
    const ok = await ask();
    assert.equal(ok.choices.length, 1);
  });

  it('refuses a stream whose upstream never ends an event (memory stays bounded), with an error event, and keeps serving', async () => {
    const stream = await ask(
      { stream: true, messages: [{ role: 'user', content: 'unended event' }] },
      { 'x-fake-behavior': JSON.stringify({ unendedEventChars: 1_000_000 }) },
    );
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of stream as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) seen.push(chunk.choices[0]?.delta.content ?? '');
      })(),
      /more than 2048 characters without ending an SSE event/,
    );
    assert.equal(seen.length, 1, 'the event before it arrives; the unended one is not relayed');
    await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes('unended event')));
    const entry = h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes('unended event'))!;
    assert.equal(entry.status_code, 200);
    assert.equal(entry.response_truncated, true);
    const raw = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.token('a')}`,
        'content-type': 'application/json',
        'x-fake-behavior': JSON.stringify({ unendedEventChars: 1_000_000 }),
      },
      body: JSON.stringify({ model: 'openai/gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] }),
    });
    const text = await raw.text();
    assert.match(
      text,
      /x\n\nevent: error\ndata: \{"error":\{"message":"the upstream sent more than 2048 characters without ending an SSE event"/,
      'relayed as it came, the cut event is closed before the error event',
    );
    assert.ok(text.length < 10_000, `${text.length} characters reached the client, not the million the upstream meant to send`);
    const ok = await ask();
    assert.equal(ok.choices.length, 1);
  });

  it('does not inflate a compressed answer past the response limit (a gzip bomb): refused, not relayed unmasked, and still charged', async () => {
    await assert.rejects(
      ask({ messages: [{ role: 'user', content: 'compressed answer' }] }, { 'x-fake-behavior': JSON.stringify({ gzip: true, contentChars: 200_000 }) }),
      (error: unknown) => {
        assert.equal((error as { status: number }).status, 502);
        assert.equal((error as { code: string }).code, 'upstream_response_too_large');
        assert.match((error as Error).message, /over 2048 bytes once decompressed/);
        return true;
      },
    );
    await waitFor(() => h.historyLines('a').some((line) => JSON.stringify(line.request_original).includes('compressed answer')));
    const entry = h.historyLines('a').find((line) => JSON.stringify(line.request_original).includes('compressed answer'))!;
    assert.ok(JSON.stringify(entry.response).length < 2048, 'history holds no more than the limit of it');
    assert.equal((entry.usage as Record<string, unknown>).estimated, true, 'usage it could not read is estimated, not $0');
  });

  it('502 for an upstream redirect, never relayed for the SDK to follow with the agent token; nothing charged', async () => {
    const before = h.fake.requests.length;
    await assert.rejects(
      ask(
        { messages: [{ role: 'user', content: 'redirected' }] },
        { 'x-fake-behavior': JSON.stringify({ redirectTo: 'https://elsewhere.example/v1/chat/completions?key=abc' }) },
      ),
      (error: unknown) => {
        assert.equal((error as { status: number }).status, 502);
        assert.equal((error as { code: string }).code, 'upstream_redirect');
        assert.match(
          (error as Error).message,
          /answered 307 with a redirect to https:\/\/elsewhere\.example\/v1\/chat\/completions; tollgate does not follow redirects/,
        );
        assert.ok(!(error as Error).message.includes('key=abc'), 'the query of the target is not repeated');
        return true;
      },
    );
    assert.equal(h.fake.requests.length, before + 1, 'called once, not followed');
    const ok = await ask({ messages: [{ role: 'user', content: 'after the redirect' }] });
    assert.equal(ok.choices.length, 1);
    await waitFor(() => h.historyText('a').includes('after the redirect'));
    assert.ok(!h.historyText('a').includes('"redirected"'), 'a redirect is not work done: not charged, not recorded');
  });

  it('a stream that echoes the provider key reaches neither the client nor history with it, however it is cut', async () => {
    const key = PROVIDER_KEYS.openai;
    const rawBody = `data: {"choices":[{"delta":{"content":"your key ${key} was"}}]}\n\ndata: {"error":{"message":"bad key ${key}"}}\n\ndata: [DONE]\n\n`;
    for (const seed of [1, 2, 3]) {
      const response = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${h.token('a')}`,
          'content-type': 'application/json',
          'x-fake-behavior': JSON.stringify({ rawBody, pieces: { seed, maxBytes: 7 } }),
        },
        body: JSON.stringify({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: `echo the key ${seed}` }] }),
      });
      const text = await response.text();
      assert.equal(text, rawBody.split(key).join('[REDACTED]'), `seed ${seed}: masked, every other byte as sent`);
    }
    await waitFor(() => h.historyLines('a').filter((line) => JSON.stringify(line.request_original).includes('echo the key')).length === 3);
    assert.ok(!h.historyText('a').includes(key), 'history never holds the key');
  });

  it('404 and 405 in the right envelope', async () => {
    const missing = await fetch(`${h.url}/v1/nothing`, { method: 'POST' });
    assert.equal(missing.status, 404);
    const wrongMethod = await fetch(`${h.url}/v1/messages`);
    assert.equal(wrongMethod.status, 405);
    assert.equal(((await wrongMethod.json()) as { type: string }).type, 'error');
  });

  it('health answers ok', async () => {
    const response = await fetch(`${h.url}/health`);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { ok: boolean }).ok, true);
  });
});
