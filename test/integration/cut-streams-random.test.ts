// Property: whatever the event packing and wherever a stream is cut, the output charged is never under the relayed-bytes estimate, and is the provider's count once that arrived.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Behavior } from '../helpers/fake-upstream.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { seededRandom } from '../helpers/random.ts';
import { historyEntry } from '../helpers/history-entry.ts';
import { rawPost } from '../helpers/raw-client.ts';
import { finalOutputIn, relayedOutputEstimate, terminatedIn } from '../helpers/sse-reference.ts';
import { waitFor } from '../helpers/wait.ts';

type Random = () => number;
type Dialect = 'openai' | 'anthropic';
type Cut = 'none' | 'clean' | 'reset' | 'client';

const WORDS = ['token', ' governance', ' ', 'é', '漢字', '😀', '"q"', '\\', 'delta', '\n', 'data: x', '[DONE]', 'message_stop', '{"usage":1}'];
const ROUNDS = 60;
const AGENT = 'prop';
const HOUR = { id: 'hour', scope: `agent:${AGENT}`, metric: 'usd_micros', windowMs: 3_600_000, limit: 1e12 } as const;

/** A whole stream of 1-10 content events, each packing 1-30 words, with the provider's final usage (2-6 bytes a token). */
function randomStream(random: Random, dialect: Dialect): string {
  const texts: string[] = [];
  for (let events = 1 + Math.floor(random() * 10); events > 0; events--) {
    let text = '';
    for (let words = 1 + Math.floor(random() * 30); words > 0; words--) text += WORDS[Math.floor(random() * WORDS.length)];
    texts.push(text);
  }
  const output = Math.max(1, Math.round(Buffer.byteLength(texts.join('')) / (2 + random() * 4)));
  if (dialect === 'openai') {
    const base = { id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o' };
    const event = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
    return (
      event({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }) +
      texts.map((content) => event({ ...base, choices: [{ index: 0, delta: { content }, finish_reason: null }] })).join('') +
      event({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) +
      event({ ...base, choices: [], usage: { prompt_tokens: 20, completion_tokens: output, total_tokens: 20 + output } }) +
      'data: [DONE]\n\n'
    );
  }
  const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  return (
    event('message_start', {
      type: 'message_start',
      message: { id: 'm1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-20250514', content: [], usage: { input_tokens: 20, output_tokens: 1 } },
    }) +
    event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
    texts
      .map(
        (text) =>
          (random() < 0.2 ? event('ping', { type: 'ping' }) : '') +
          event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
      )
      .join('') +
    event('content_block_stop', { type: 'content_block_stop', index: 0 }) +
    event('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: output } }) +
    event('message_stop', { type: 'message_stop' })
  );
}

describe('cut streams, random packing and cut points', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { [AGENT]: { budget: { limit_usd: 1_000_000, window: '1h' } } } });
  });
  after(() => h.close());

  /** One call, cut as `cut` says at byte `at`; the client's text, the audit outcome event, the history entry and the ledger charge. */
  async function call(input: { dialect: Dialect; stream: string; cut: Cut; at: number; round: number; cap: number | null }) {
    const { dialect, stream, cut, at } = input;
    const [before] = await h.tollgate.ledger.standing([HOUR]);
    const path = dialect === 'openai' ? '/v1/chat/completions' : '/v1/messages';
    const body = JSON.stringify(
      dialect === 'openai'
        ? {
            model: 'openai/gpt-4o',
            stream: true,
            stream_options: { include_usage: true },
            messages: [{ role: 'user', content: `round ${input.round}` }],
            ...(input.cap === null ? {} : { max_tokens: input.cap }),
          }
        : { model: 'claude-sonnet-4-20250514', max_tokens: input.cap ?? 4000, stream: true, messages: [{ role: 'user', content: `round ${input.round}` }] },
    );
    const behavior: Behavior =
      cut === 'client'
        ? { rawBody: stream, pieces: { seed: input.round, maxBytes: 48, gapMs: 2 } }
        : { rawBody: cut === 'none' ? stream : stream.slice(0, at), rawReset: cut === 'reset', pieces: { seed: input.round, maxBytes: 64 } };
    const headers = { authorization: `Bearer ${h.token(AGENT)}`, 'anthropic-version': '2023-06-01', 'x-fake-behavior': JSON.stringify(behavior) };
    const answer = await rawPost({ url: h.url, path, headers, body, ...(cut === 'client' ? { cutAfterBytes: at } : {}) });
    assert.equal(answer.status, 200);
    const requestId = answer.headers['x-tollgate-request-id'];
    await waitFor(() => h.events.some((e) => e.request_id === requestId && (e.type === 'response' || e.type === 'error')), 'outcome event');
    const entry = await historyEntry(h, AGENT, (line) => line.request_id === requestId);
    const event = h.events.find((e) => e.request_id === requestId && (e.type === 'response' || e.type === 'error'))!;
    const [standing] = await h.tollgate.ledger.standing([HOUR]);
    return { text: answer.body, event, entry, spent: standing.used - before.used, reserved: standing.reserved };
  }

  it(`charged output >= ceil(relayed generated bytes / 3) (or the output cap) until the final usage arrives, = the provider's count after (${ROUNDS} rounds)`, async () => {
    const random = seededRandom(1515);
    const cuts: Cut[] = ['none', 'clean', 'reset', 'client'];
    for (let round = 0; round < ROUNDS; round++) {
      const dialect: Dialect = round % 2 === 0 ? 'openai' : 'anthropic';
      const stream = randomStream(random, dialect);
      const cut = cuts[Math.floor(random() * cuts.length)];
      const at = 1 + Math.floor(random() * (stream.length - 1));
      // the output cap sent upstream: none (OpenAI: tollgate sends the 4,096 it reserved) or 10-1,000 tokens
      const cap = random() < 0.3 ? null : 10 + Math.floor(random() * 990);
      const result = await call({ dialect, stream, cut, at, round, cap });
      const relayed = (result.entry.response as { text: string }).text;
      const usage = result.entry.usage as Record<string, unknown>;
      const charged = Number(usage.completion_tokens);
      const final = finalOutputIn(relayed, dialect);
      const what = `round ${round} (${dialect}, cap ${cap}, cut ${cut} at ${at} of ${stream.length}, outcome ${String(result.entry.outcome)}): charged ${charged}, final ${final}, relayed ${JSON.stringify(relayed.slice(-120))}`;
      if (final !== null) {
        assert.equal(charged, final, `${what}: the provider's final count, neither more nor less`);
        assert.equal(usage.estimated, undefined, what);
      } else {
        const bound = cap ?? 4096;
        assert.ok(
          charged >= Math.min(relayedOutputEstimate(relayed), bound),
          `${what}: at least the relayed-bytes estimate ${relayedOutputEstimate(relayed)} (or the cap)`,
        );
        assert.ok(
          charged <= Math.max(1, Math.min(bound, Math.ceil(Buffer.byteLength(relayed) / 3))),
          `${what}: no more than all it relayed could be, nor than the cap`,
        );
        assert.equal(usage.estimated, true, what);
        assert.equal(result.event.usage_estimated, true, what);
      }
      assert.equal(result.event.tokens_out, charged, what);
      assert.equal(result.spent, result.event.cost_micros, `${what}: the ledger holds the charge`);
      assert.equal(result.reserved, 0, `${what}: nothing left held`);
      const outcome = result.entry.outcome;
      if (cut === 'none') assert.equal(outcome, 'complete', what);
      if (cut === 'clean') assert.equal(outcome, terminatedIn(relayed, dialect) ? 'complete' : 'incomplete', what);
      if (cut === 'reset') assert.equal(outcome, 'upstream_cut', what);
      if (cut === 'client') assert.ok(outcome === 'client_aborted' || outcome === 'complete', what);
      if (cut !== 'client')
        assert.equal(result.text.includes('event: error\n'), outcome !== 'complete', `${what}: the client is told when its stream broke off`);
    }
  });
});
