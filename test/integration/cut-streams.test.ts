// Cut streams are charged for what they generated, on both routes and both Anthropic auth styles, however they are cut.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { Behavior } from '../helpers/fake-upstream.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { historyEntry } from '../helpers/history-entry.ts';
import { rawPost } from '../helpers/raw-client.ts';
import { relayedOutputEstimate } from '../helpers/sse-reference.ts';
import { waitFor } from '../helpers/wait.ts';

/** 80 ASCII bytes, ~20 tokens of English: many tokens packed in one SSE event. */
const PACKED = 'Every token an agent reads was generated upstream and billed; cut or not, it cost'.padEnd(80, '.');
const CHUNKS = 10;
/** What the relayed text of CHUNKS packed events is worth at 3 bytes per token. */
const TEXT_ESTIMATE = Math.ceil((CHUNKS * PACKED.length) / 3);
/** Fake Anthropic stream: message_start, content_block_start, ping, the deltas, content_block_stop (then message_delta, message_stop). */
const ANTHROPIC_AFTER_TEXT = 3 + CHUNKS + 1;
/** Fake OpenAI stream: the role chunk, the content chunks, the finish chunk (then the usage chunk, [DONE]). */
const OPENAI_AFTER_TEXT = 1 + CHUNKS + 1;

type Client = 'openai' | 'anthropic-x-api-key' | 'anthropic-bearer';
type Cut = 'client' | 'upstream' | 'idle';

describe('cut streams are charged for what was generated', () => {
  let h: Harness;
  /** A proxy with a short idle bound, for the idle cuts only: elsewhere a slow machine must not turn a client cut into one. */
  let idle: Harness;
  before(async () => {
    const budget = { limit_usd: 0.1, window: '1h' };
    h = await startHarness({ agents: { a: {}, steady: { budget }, cutter: { budget } } });
    idle = await startHarness({ agents: { a: {} }, env: { CLLAMA_STREAM_IDLE_TIMEOUT_MS: '200' } });
  });
  after(async () => {
    await h.close();
    await idle.close();
  });

  const openai = (agent = 'a', on = h) => new OpenAI({ baseURL: `${on.url}/v1`, apiKey: on.token(agent), maxRetries: 0 });
  const anthropic = (bearer: boolean, agent = 'a', on = h) =>
    bearer
      ? new Anthropic({ baseURL: on.url, authToken: on.token(agent), apiKey: null, maxRetries: 0 })
      : new Anthropic({ baseURL: on.url, apiKey: on.token(agent), maxRetries: 0 });
  const behaviorHeader = (behavior: Behavior) => ({ 'x-fake-behavior': JSON.stringify(behavior) });

  /** The history entry and audit outcome event of the call whose prompt holds `marker`. */
  async function recorded(marker: string, on = h): Promise<{ entry: Record<string, any>; event: Record<string, any> }> {
    const entry = await historyEntry<Record<string, any>>(on, 'a', (line) => JSON.stringify(line.request_original).includes(marker));
    await waitFor(() => on.events.some((e) => e.request_id === entry.request_id && (e.type === 'response' || e.type === 'error')), 'outcome event');
    return { entry, event: on.events.find((e) => e.request_id === entry.request_id && (e.type === 'response' || e.type === 'error'))! };
  }

  /** Streams one answer through the SDK of `client`, cut as `cut` says; returns the text the client got. */
  async function streamCut(client: Client, cut: Cut, marker: string): Promise<string> {
    const on = cut === 'idle' ? idle : h;
    const anthropicRoute = client !== 'openai';
    const after = anthropicRoute ? ANTHROPIC_AFTER_TEXT : OPENAI_AFTER_TEXT;
    // client: the upstream pauses after the text, so the cut lands before the final usage; idle: it never resumes
    const behavior: Behavior = {
      chunks: CHUNKS,
      chunkText: PACKED,
      usage: { input: 10, output: 200 },
      ...(cut === 'upstream' ? { cutAfterChunks: after } : { stallAfterChunks: after }),
    };
    let text = '';
    const consume = async () => {
      if (anthropicRoute) {
        const stream = await anthropic(client === 'anthropic-bearer', 'a', on).messages.create(
          { model: 'claude-sonnet-4-20250514', max_tokens: 400, stream: true, messages: [{ role: 'user', content: marker }] },
          { headers: behaviorHeader(behavior) },
        );
        for await (const event of stream) {
          if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
          if (event.type === 'content_block_stop' && cut === 'client') break; // closes the connection
        }
      } else {
        const stream = await openai('a', on).chat.completions.create(
          { model: 'openai/gpt-4o', max_tokens: 400, stream: true, messages: [{ role: 'user', content: marker }] },
          { headers: behaviorHeader(behavior) },
        );
        let chunks = 0;
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? '';
          if (++chunks === 1 + CHUNKS && cut === 'client') break;
        }
      }
    };
    if (cut === 'client') await consume();
    else await assert.rejects(consume(), /upstream stream (failed|idle timeout)/, 'the client is told its stream broke off');
    return text;
  }

  for (const client of ['openai', 'anthropic-x-api-key', 'anthropic-bearer'] as const) {
    for (const cut of ['client', 'upstream', 'idle'] as const) {
      it(`${client}, ${cut} cut after the text: charged the relayed output (estimated), not the placeholder or one token per event`, async (t: TestContext) => {
        const marker = `cut ${client} ${cut}`;
        const text = await streamCut(client, cut, marker);
        assert.equal(text, PACKED.repeat(CHUNKS), 'the client got the whole text');
        const { entry, event } = await recorded(marker, cut === 'idle' ? idle : h);
        assert.equal(entry.outcome, cut === 'client' ? 'client_aborted' : 'upstream_cut');
        assert.equal(event.outcome, cut === 'client' ? 'client_aborted' : cut === 'idle' ? 'upstream_idle' : 'upstream_error');
        const usage = entry.usage as Record<string, number | boolean>;
        t.diagnostic(`${marker}: completion_tokens ${usage.completion_tokens}, cost ${usage.cost_micros} µ$`);
        assert.equal(usage.estimated, true);
        assert.equal(event.usage_estimated, true);
        assert.ok(
          Number(usage.completion_tokens) >= TEXT_ESTIMATE,
          `${usage.completion_tokens} output tokens charged for ${PACKED.length * CHUNKS} bytes of text (at least ${TEXT_ESTIMATE})`,
        );
        assert.ok(Number(usage.completion_tokens) >= relayedOutputEstimate(entry.response.text), 'at least the estimate from what history kept of the stream');
        assert.equal(event.tokens_out, usage.completion_tokens);
        if (client !== 'openai') assert.equal(usage.prompt_tokens, 10, 'the input message_start reported is charged as reported');
      });
    }
  }

  it('a raw-socket client that drops the connection at content_block_stop is charged the relayed output', async () => {
    const marker = 'raw socket cut';
    const behavior: Behavior = { chunks: CHUNKS, chunkText: PACKED, usage: { input: 10, output: 200 }, stallAfterChunks: ANTHROPIC_AFTER_TEXT };
    const call = await rawPost({
      url: h.url,
      path: '/v1/messages',
      headers: { authorization: `Bearer ${h.token('a')}`, 'anthropic-version': '2023-06-01', ...behaviorHeader(behavior) },
      body: JSON.stringify({ model: 'claude-sonnet-4-20250514', max_tokens: 400, stream: true, messages: [{ role: 'user', content: marker }] }),
      cutAt: 'event: content_block_stop',
    });
    assert.equal(call.status, 200);
    assert.equal(call.cut, true);
    const { entry } = await recorded(marker);
    assert.equal(entry.outcome, 'client_aborted');
    assert.ok(entry.usage.completion_tokens >= TEXT_ESTIMATE, `${entry.usage.completion_tokens} >= ${TEXT_ESTIMATE}`);
  });

  it('a cut stream is never charged past the output cap the upstream was sent (it cannot have generated more)', async () => {
    const marker = 'capped cut';
    const stream = await anthropic(false).messages.create(
      { model: 'claude-sonnet-4-20250514', max_tokens: 100, stream: true, messages: [{ role: 'user', content: marker }] },
      { headers: behaviorHeader({ chunks: CHUNKS, chunkText: PACKED, usage: { input: 10, output: 100 }, stallAfterChunks: ANTHROPIC_AFTER_TEXT }) },
    );
    for await (const event of stream) if (event.type === 'content_block_stop') break;
    const { entry } = await recorded(marker);
    assert.equal(entry.outcome, 'client_aborted');
    assert.equal(entry.usage.completion_tokens, 100, `the cap, not the ${TEXT_ESTIMATE} the text would be estimated at (nor the placeholder 1)`);
    assert.equal(entry.usage.estimated, true);
  });

  it('an OpenAI stream dropped just before its usage chunk is charged the relayed bytes, not one token per event', async () => {
    const marker = 'dropped before usage';
    const stream = await openai().chat.completions.create(
      { model: 'openai/gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: marker }] },
      { headers: behaviorHeader({ chunks: CHUNKS, chunkText: PACKED, usage: { input: 10, output: 200 }, cutAfterChunks: OPENAI_AFTER_TEXT }) },
    );
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) assert.equal(chunk.usage ?? null, null, 'no usage chunk came');
      })(),
    );
    const { entry } = await recorded(marker);
    assert.equal(entry.outcome, 'upstream_cut');
    assert.ok(entry.usage.completion_tokens >= TEXT_ESTIMATE, `${entry.usage.completion_tokens} >= ${TEXT_ESTIMATE} (events: ${OPENAI_AFTER_TEXT})`);
  });

  it('a complete stream without usage that packs 20 tokens per event is charged its bytes, not its event count', async () => {
    const marker = 'packed without usage';
    const stream = await openai().chat.completions.create(
      { model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: marker }] },
      { headers: behaviorHeader({ chunks: CHUNKS, chunkText: PACKED, usage: null }) },
    );
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, PACKED.repeat(CHUNKS));
    const { entry, event } = await recorded(marker);
    assert.equal(entry.outcome, 'complete');
    assert.equal(event.type, 'response');
    assert.equal(entry.usage.estimated, true);
    assert.ok(entry.usage.completion_tokens >= TEXT_ESTIMATE, `${entry.usage.completion_tokens} >= ${TEXT_ESTIMATE}`);
  });

  it('with a limit sized for ~3 complete streams, a client cutting each at content_block_stop is stopped as soon (not 20 of 20)', async (t: TestContext) => {
    // 100 packed events (8,100 bytes) reported as 2,000 output tokens: $0.03 a stream at $15/Mtok, so $0.10 holds 3
    const long: Behavior = { chunks: 100, chunkText: PACKED, usage: { input: 10, output: 2000 } };
    const body = (marker: string) => ({ model: 'claude-sonnet-4-20250514', max_tokens: 2000, stream: true, messages: [{ role: 'user', content: marker }] });
    let complete = 0;
    for (let i = 0; i < 20; i++) {
      try {
        const stream = (await anthropic(false, 'steady').messages.create(body(`steady ${i}`) as never, {
          headers: behaviorHeader(long),
        })) as unknown as AsyncIterable<unknown>;
        for await (const _ of stream) {
          /* read to the end */
        }
        complete++;
      } catch (error) {
        assert.equal((error as { status?: number }).status, 429);
        break;
      }
    }
    let cutOk = 0;
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      const call = await rawPost({
        url: h.url,
        path: '/v1/messages',
        headers: { 'x-api-key': h.token('cutter'), 'anthropic-version': '2023-06-01', ...behaviorHeader({ ...long, stallAfterChunks: 3 + 100 + 1 }) },
        body: JSON.stringify(body(`cutter ${i}`)),
        cutAt: 'event: content_block_stop',
      });
      if (call.status === 429) {
        refused++;
        continue;
      }
      assert.equal(call.status, 200);
      cutOk++;
      const requestId = call.headers['x-tollgate-request-id'];
      await waitFor(() => h.events.some((e) => e.request_id === requestId && e.type === 'error'), 'the cut call settled');
    }
    const spend = async (agent: string) =>
      (await h.tollgate.ledger.standing([{ id: agent, scope: `agent:${agent}`, metric: 'usd_micros', windowMs: 3_600_000, limit: 1e12 }]))[0];
    const steady = await spend('steady');
    const cutter = await spend('cutter');
    t.diagnostic(`complete streams: ${complete} admitted, $${steady.used / 1e6}; cutting client: ${cutOk} admitted, ${refused} refused, $${cutter.used / 1e6}`);
    assert.equal(complete, 3);
    assert.equal(cutOk, complete, 'cutting at content_block_stop buys no more answers than reading them whole');
    assert.equal(cutter.reserved, 0);
    // each cut stream: 8,100 bytes of text (2,700 tokens estimated) charged at its cap, the 2,000 the upstream could write
    assert.equal(cutter.used, steady.used, `cutter charged ${cutter.used} µ$, steady ${steady.used} µ$`);
  });
});
