// A hostile upstream echoes the provider key (any shape, any coding, any cuts, any place): no run of it reaches anyone.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { ECHO_SHAPES, echoOf, leaksKey, randomKey, type EchoShape } from '../helpers/key-echo.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';

const CODINGS = [undefined, 'gzip', 'GZip', 'deflate', 'deflate-raw', 'br', 'Identity', 'identity', 'zstd-x'] as const;
const PLACES = ['body', 'error-body', 'request-id', 'header'] as const;
const SEED = Number(process.env.KEY_ECHO_SEED ?? 1616);
const ROUNDS = 4;
const CASES_PER_ROUND = 60;

type Place = (typeof PLACES)[number];

interface Case {
  readonly n: number;
  readonly anthropic: boolean;
  readonly stream: boolean;
  readonly shape: EchoShape;
  readonly coding: (typeof CODINGS)[number];
  readonly place: Place;
  readonly maxPiece: number;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly raw: Buffer;
}

/** The client's bytes as they came (node:http: nothing decoded on the way), headers included. */
function post(url: string, headers: Record<string, string>, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, raw: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** What an SDK reading the answer would read: the bytes decoded as the answer's content-encoding says. */
function asClientReads(answer: Answer): string {
  const coding = String(answer.headers['content-encoding'] ?? '').toLowerCase();
  try {
    if (coding === 'gzip') return gunzipSync(answer.raw).toString('utf8');
    if (coding === 'br') return brotliDecompressSync(answer.raw).toString('utf8');
    if (coding === 'deflate') return ((answer.raw[0] & 0x0f) === 8 ? inflateSync : inflateRawSync)(answer.raw).toString('utf8');
  } catch {
    // not decodable: the raw bytes are all there is
  }
  return answer.raw.toString('latin1');
}

/** The upstream's answer for a case: the echo in its body text, its error message, or its headers. */
function upstreamAnswer(c: Case, echo: string): { rawBody: string; status: number; headers: Record<string, string>; expected: string } {
  const inBody = c.place === 'body' || c.place === 'error-body' ? echo : 'nothing to see';
  const headers: Record<string, string> = {};
  if (c.place === 'request-id') headers[c.anthropic ? 'request-id' : 'x-request-id'] = `req ${echo} 1`;
  if (c.place === 'header') headers['x-debug-credential'] = `used ${echo}`;
  let rawBody: string;
  let status = 200;
  if (c.place === 'error-body') {
    // relayed statuses: a 401/403 is not relayed at all (the key pool takes the key out: docs/providers.md)
    status = [400, 404, 422, 500][c.n % 4];
    rawBody = c.anthropic
      ? `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ${inBody} given"}}`
      : `{"error":{"message":"Incorrect API key provided: ${inBody} here","type":"invalid_request_error","code":"invalid_api_key"}}`;
  } else if (c.stream) {
    rawBody = c.anthropic
      ? `event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}\n\nevent: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n` +
        `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"the key is ${inBody} ok"}}\n\n` +
        `event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\nevent: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n`
      : `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"the key is ${inBody} ok"}}]}\n\n` +
        `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}\n\ndata: [DONE]\n\n`;
  } else {
    rawBody = c.anthropic
      ? `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"the key is ${inBody} ok"}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":7}}`
      : `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"the key is ${inBody} ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`;
  }
  return { rawBody, status, headers, expected: rawBody.split(echo).join('[REDACTED]') };
}

function drawCase(n: number, random: () => number): Case {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  return {
    n,
    anthropic: random() < 0.5,
    stream: random() < 0.5,
    shape: pick(ECHO_SHAPES),
    coding: pick(CODINGS),
    place: pick(PLACES),
    maxPiece: 1 + Math.floor(random() * 40),
  };
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

/** The live feed's frames, read from the moment it is opened. */
function feedReader(url: string): { text: () => string; stop(): void } {
  const controller = new AbortController();
  let text = '';
  void (async () => {
    try {
      const response = await fetch(url, { signal: controller.signal });
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
    } catch {
      // stopped
    }
  })();
  return { text: () => text, stop: () => controller.abort() };
}

describe('a provider key echoed by the upstream', () => {
  const harnesses: Harness[] = [];
  after(async () => {
    for (const h of harnesses) await h.close();
  });

  it(`reaches no client, history file, audit line or live feed (${ROUNDS * CASES_PER_ROUND} seeded cases, seed ${SEED})`, async (t) => {
    const random = seededRandom(SEED);
    const leaks: string[] = [];
    const wrong: string[] = [];
    let cases = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const keys = { openai: randomKey(random), anthropic: randomKey(random) };
      const h = await startHarness({ providerKeys: keys, env: { CLLAMA_STREAM_IDLE_TIMEOUT_MS: '5000' } });
      harnesses.push(h);
      const feed = feedReader(`${h.tollgate.uiUrl}/api/events?replay=0&types=request,response,error`);
      const leaked = (text: string) => leaksKey(text, keys.openai) || leaksKey(text, keys.anthropic);
      const recorded: string[] = [];
      for (let i = 0; i < CASES_PER_ROUND; i++) {
        const c = drawCase(cases++, random);
        const key = c.anthropic ? keys.anthropic : keys.openai;
        const echo = echoOf(key, c.shape, random);
        const answer = upstreamAnswer(c, echo);
        const marker = `case-${c.n}-${round}`;
        const behavior = {
          rawBody: answer.rawBody,
          status: answer.status,
          headers: answer.headers,
          encoding: c.coding,
          pieces: { seed: c.n + 1, maxBytes: c.maxPiece },
        };
        const body = c.anthropic
          ? { model: 'claude-sonnet-4-5', max_tokens: 20, stream: c.stream, messages: [{ role: 'user', content: marker }] }
          : {
              model: 'openai/gpt-4o',
              max_tokens: 20,
              stream: c.stream,
              stream_options: c.stream ? { include_usage: true } : undefined,
              messages: [{ role: 'user', content: marker }],
            };
        const got = await post(
          `${h.url}${c.anthropic ? '/v1/messages' : '/v1/chat/completions'}`,
          { authorization: `Bearer ${h.token('a')}`, 'x-fake-behavior': JSON.stringify(behavior) },
          JSON.stringify(body),
        );
        const what = `${marker} ${JSON.stringify({ ...c, echo })}`;
        const read = asClientReads(got);
        if (leaked(read) || leaked(got.raw.toString('latin1')) || leaked(JSON.stringify(got.headers))) leaks.push(`client: ${what}`);
        if (c.coding === 'zstd-x') {
          const envelope = parseOr(read) as { type?: string; error?: { type?: string; code?: string } };
          if (got.status !== 502 || (c.anthropic ? envelope.type !== 'error' : envelope.error?.code !== 'upstream_bad_encoding'))
            wrong.push(`unknown coding not refused: ${what} → ${got.status} ${read.slice(0, 200)}`);
          continue;
        }
        if (got.status !== answer.status || got.headers['content-encoding'] !== undefined || read !== answer.expected) {
          wrong.push(`${what} → ${got.status} ${String(got.headers['content-encoding'])} ${JSON.stringify(read.slice(0, 300))}`);
        }
        if (answer.status === 200) recorded.push(marker);
      }
      // every 2xx call is charged and recorded; its outcome event follows its history entry
      await waitFor(() => recorded.every((marker) => h.historyText('a').includes(marker)), "the round's calls recorded");
      await waitFor(
        () => h.events.filter((event) => event.type === 'response' || event.type === 'error').length >= CASES_PER_ROUND,
        'an outcome event per call',
      );
      await waitFor(() => (feed.text().match(/"type":"(response|error)"/g) ?? []).length >= CASES_PER_ROUND, 'an outcome frame per call in the live feed');
      feed.stop();
      if (leaked(h.historyText('a'))) leaks.push(`history file, round ${round}`);
      const viaApi = await fetch(`${h.url}/history`, { headers: { authorization: `Bearer ${h.token('a')}` } });
      if (leaked(await viaApi.text())) leaks.push(`GET /history, round ${round}`);
      for (const event of h.events) if (leaked(JSON.stringify(event))) leaks.push(`audit log, round ${round}: ${JSON.stringify(event).slice(0, 300)}`);
      if (leaked(feed.text())) leaks.push(`live feed, round ${round}`);
      await h.close();
      harnesses.pop();
    }
    t.diagnostic(`leaks: ${leaks.length} places over ${cases} cases`);
    assert.deepEqual(leaks, [], `${leaks.length} leaks over ${cases} cases`);
    assert.deepEqual(wrong, [], "every answer relayed masked and decoded, every unknown coding refused in the caller's envelope");
  });

  it('reaches the official SDKs masked and readable, JSON and streams, whatever the coding', async () => {
    const random = seededRandom(SEED + 1);
    const keys = { openai: randomKey(random), anthropic: randomKey(random) };
    const h = await startHarness({ providerKeys: keys });
    harnesses.push(h);
    const behavior = (c: Case, coding: string) => {
      const key = c.anthropic ? keys.anthropic : keys.openai;
      const answer = upstreamAnswer(c, echoOf(key, c.shape, random));
      return { 'x-fake-behavior': JSON.stringify({ rawBody: answer.rawBody, encoding: coding, pieces: { seed: c.n, maxBytes: 7 } }) };
    };
    for (const [n, coding] of ['gzip', 'br', 'deflate', 'Identity'].entries()) {
      const c: Case = { n, anthropic: false, stream: false, shape: ECHO_SHAPES[n], coding: undefined, place: 'body', maxPiece: 7 };
      const openai = (stream: boolean) =>
        new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0, defaultHeaders: behavior({ ...c, stream }, coding) });
      const completion = await openai(false).chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'x' }] });
      assert.equal(completion.choices[0].message.content, 'the key is [REDACTED] ok', coding);
      let text = '';
      for await (const chunk of await openai(true).chat.completions.create({
        model: 'openai/gpt-4o',
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      }))
        text += chunk.choices[0]?.delta.content ?? '';
      assert.equal(text, 'the key is [REDACTED] ok', `${coding} stream`);
      const anthropic = (stream: boolean) =>
        new Anthropic({ baseURL: h.url, apiKey: h.token('a'), maxRetries: 0, defaultHeaders: behavior({ ...c, anthropic: true, stream }, coding) });
      const message = await anthropic(false).messages.create({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'x' }] });
      assert.deepEqual(message.content, [{ type: 'text', text: 'the key is [REDACTED] ok' }], coding);
      const streamed = await anthropic(true)
        .messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'x' }] })
        .finalText();
      assert.equal(streamed, 'the key is [REDACTED] ok', `${coding} stream`);
    }
  });

  it('relays a compressed stream event by event, decoded as it comes: what arrived before a stall reaches the client', async () => {
    const h = await startHarness({ env: { CLLAMA_STREAM_IDLE_TIMEOUT_MS: '60000' } });
    harnesses.push(h);
    for (const encoding of ['gzip', 'br', 'deflate']) {
      for (const anthropic of [false, true]) {
        const stop = new AbortController();
        const response = await fetch(`${h.url}${anthropic ? '/v1/messages' : '/v1/chat/completions'}`, {
          method: 'POST',
          signal: stop.signal,
          headers: {
            authorization: `Bearer ${h.token('a')}`,
            'content-type': 'application/json',
            'x-fake-behavior': JSON.stringify({ encoding, stallAfterChunks: anthropic ? 4 : 2 }),
          },
          body: JSON.stringify({
            model: anthropic ? 'claude-sonnet-4-5' : 'openai/gpt-4o',
            max_tokens: 20,
            stream: true,
            messages: [{ role: 'user', content: 'x' }],
          }),
        });
        assert.equal(response.headers.get('content-encoding'), null, 'relayed uncompressed');
        let text = '';
        const decoder = new TextDecoder();
        // the upstream now says nothing more for a minute: the first token must already be here, not held for the end
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          text += decoder.decode(chunk, { stream: true });
          if (text.includes('tok0')) break;
        }
        stop.abort();
        assert.match(text, /tok0/, `${encoding} ${anthropic ? 'anthropic' : 'openai'}`);
      }
    }
  });
});
