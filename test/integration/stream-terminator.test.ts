// A stream that ends cleanly without its terminator ([DONE] / message_stop) is incomplete: recorded so, charged as cut, and the client told.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { historyEntry } from '../helpers/history-entry.ts';
import { relayedOutputEstimate } from '../helpers/sse-reference.ts';
import { waitFor } from '../helpers/wait.ts';

const TEXT = 'A stream that stops without saying it is done may have been truncated upstream.'.repeat(4);
const oa = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
const an = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
const chunk = (delta: unknown, finish: string | null = null) => ({
  id: 'c1',
  object: 'chat.completion.chunk',
  model: 'gpt-4o',
  choices: [{ index: 0, delta, finish_reason: finish }],
});
const OPENAI_TEXT = oa(chunk({ role: 'assistant', content: '' })) + oa(chunk({ content: TEXT })) + oa(chunk({}, 'stop'));
const OPENAI_USAGE = oa({ id: 'c1', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 12, completion_tokens: 70, total_tokens: 82 } });
const ANTHROPIC_TEXT =
  an('message_start', {
    type: 'message_start',
    message: { id: 'm1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-20250514', content: [], usage: { input_tokens: 12, output_tokens: 1 } },
  }) +
  an('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
  an('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: TEXT } }) +
  an('content_block_stop', { type: 'content_block_stop', index: 0 });
const ANTHROPIC_DELTA = an('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 70 } });
const ESTIMATE = Math.ceil(Buffer.byteLength(TEXT) / 3);

describe('streams that end without their terminator', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: {} } });
  });
  after(() => h.close());

  async function call(route: 'openai' | 'anthropic', rawBody: string, extra: Record<string, unknown> = {}) {
    const response = await fetch(`${h.url}${route === 'openai' ? '/v1/chat/completions' : '/v1/messages'}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.token('a')}`,
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'x-fake-behavior': JSON.stringify({ rawBody }),
      },
      body: JSON.stringify(
        route === 'openai'
          ? { model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra }
          : { model: 'claude-sonnet-4-20250514', max_tokens: 300, stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra },
      ),
    });
    assert.equal(response.status, 200);
    const text = await response.text();
    const requestId = response.headers.get('x-tollgate-request-id')!;
    await waitFor(() => h.events.some((e) => e.request_id === requestId && (e.type === 'response' || e.type === 'error')), 'outcome event');
    const entry = await historyEntry(h, 'a', (line) => line.request_id === requestId);
    const event = h.events.find((e) => e.request_id === requestId && (e.type === 'response' || e.type === 'error'))!;
    return { text, event, entry, usage: entry.usage as Record<string, unknown> };
  }

  it("OpenAI: no [DONE] (nor usage chunk) is incomplete, charged the relayed output, and ends with the route's error event; a usage chunk ends it too", async () => {
    for (const [label, body, extra] of [
      ['usage asked', OPENAI_TEXT, { stream_options: { include_usage: true } }],
      ['usage not asked, last event without its blank line', OPENAI_TEXT.slice(0, -2), {}],
    ] as const) {
      const { text, event, entry, usage } = await call('openai', body, extra);
      assert.ok(text.startsWith(body), `${label}: the stream is relayed as it came`);
      assert.ok(
        text.endsWith(
          '\n\nevent: error\ndata: {"error":{"message":"upstream stream ended without data: [DONE]","type":"server_error","code":"upstream_incomplete"}}\n\n',
        ),
        `${label}: ${JSON.stringify(text.slice(-200))}`,
      );
      assert.equal(entry.outcome, 'incomplete', label);
      assert.equal(event.type, 'error', label);
      assert.equal(event.outcome, 'incomplete', label);
      assert.equal(event.error, 'stream ended without its terminator', label);
      assert.equal(usage.estimated, true, label);
      assert.ok(Number(usage.completion_tokens) >= ESTIMATE, `${label}: ${usage.completion_tokens} >= ${ESTIMATE}`);
    }
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 });
    const stream = await client.chat.completions.create(
      { model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'sdk' }] },
      { headers: { 'x-fake-behavior': JSON.stringify({ rawBody: OPENAI_TEXT }) } },
    );
    await assert.rejects(
      (async () => {
        for await (const _ of stream) {
          /* read */
        }
      })(),
      /upstream stream ended without data: \[DONE\]/,
      'the SDK raises it',
    );
    // a usage chunk with no [DONE] after it ends the stream (compatible servers that leave [DONE] out)
    const { text, event, entry, usage } = await call('openai', OPENAI_TEXT + OPENAI_USAGE, { stream_options: { include_usage: true } });
    assert.equal(text, OPENAI_TEXT + OPENAI_USAGE);
    assert.equal(entry.outcome, 'complete');
    assert.equal(event.type, 'response');
    assert.equal(usage.completion_tokens, 70);
    assert.equal(usage.estimated, undefined);
  });

  it('Anthropic: no message_stop is incomplete; charged the relayed output without message_delta, as reported with it', async () => {
    const cut = await call('anthropic', ANTHROPIC_TEXT);
    assert.ok(
      cut.text.endsWith(
        `${ANTHROPIC_TEXT}\n\nevent: error\ndata: {"type":"error","error":{"type":"api_error","message":"upstream stream ended without message_stop"}}\n\n`,
      ),
      JSON.stringify(cut.text.slice(-200)),
    );
    assert.equal(cut.entry.outcome, 'incomplete');
    assert.equal(cut.event.outcome, 'incomplete');
    assert.equal(cut.usage.prompt_tokens, 12);
    assert.equal(cut.usage.estimated, true);
    assert.ok(
      Number(cut.usage.completion_tokens) >= ESTIMATE && Number(cut.usage.completion_tokens) >= relayedOutputEstimate(ANTHROPIC_TEXT),
      `${cut.usage.completion_tokens} >= ${ESTIMATE}, not message_start's placeholder`,
    );

    const final = await call('anthropic', ANTHROPIC_TEXT + ANTHROPIC_DELTA);
    assert.equal(final.entry.outcome, 'incomplete');
    assert.match(final.text, /event: error\n/);
    assert.equal(final.usage.completion_tokens, 70, 'the final count arrived: charged as reported');
    assert.equal(final.usage.estimated, undefined);

    const client = new Anthropic({ baseURL: h.url, apiKey: h.token('a'), maxRetries: 0 });
    const stream = await client.messages.create(
      { model: 'claude-sonnet-4-20250514', max_tokens: 300, stream: true, messages: [{ role: 'user', content: 'sdk' }] },
      { headers: { 'x-fake-behavior': JSON.stringify({ rawBody: ANTHROPIC_TEXT }) } },
    );
    await assert.rejects(
      (async () => {
        for await (const _ of stream) {
          /* read */
        }
      })(),
      /upstream stream ended without message_stop/,
      'the SDK raises it',
    );
  });
});
