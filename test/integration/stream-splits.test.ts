// The same upstream answers cut into random TCP-sized pieces: what the client gets, the usage metered and the charge never depend on the cuts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/harness.ts';
import type { Behavior } from '../helpers/fake-upstream.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';

type Random = () => number;
type Route = 'openai' | 'anthropic';

/** What one generated answer holds: its text, the client's expected bytes when usage is stripped, and its usage. */
interface Answer {
  readonly text: string;
  /** The text with the usage-only block removed (what a client that did not ask for usage gets). */
  readonly stripped: string;
  readonly usage: { input: number; output: number; cacheRead: number; cacheWrite: number };
}

interface CallResult {
  readonly status: number;
  readonly bytes: Buffer;
  readonly requestId: string;
  readonly event: Record<string, unknown>;
  readonly entry: Record<string, unknown>;
  /** Ledger spend the call added (micro-dollars). */
  readonly spent: number;
}

const AGENT = 'splitter';
/** Odd-usage calls each have an agent of their own: a charge held at 2^53 − 1 µ$ leaves no exact sum for the next one. */
const ODD_ROUNDS = 40;
const hour = (agent: string) => ({ id: 'hour', scope: `agent:${agent}`, metric: 'usd_micros', windowMs: 3_600_000, limit: 1e12 }) as const;
const TEXTS = ['tok ', 'é', '漢字', '😀', ' naïve', '"quoted"', '\\n', 'data: not a field', '[DONE]', 'usage'];

describe('streams and JSON answers split at every kind of boundary', () => {
  let h: Harness;
  before(async () => {
    const budget = { limit_usd: 1_000_000, window: '1h' };
    const agents = Object.fromEntries([AGENT, ...Array.from({ length: ODD_ROUNDS }, (_, i) => `odd-${i}`)].map((id) => [id, { budget }]));
    h = await startHarness({ agents });
  });
  after(() => h.close());

  async function call(input: { route: Route; body: Record<string, unknown>; behavior: Behavior; agent?: string }): Promise<CallResult> {
    const agent = input.agent ?? AGENT;
    h.fake.behavior = input.behavior;
    const [before] = await h.tollgate.ledger.standing([hour(agent)]);
    const response = await fetch(`${h.url}${input.route === 'anthropic' ? '/v1/messages' : '/v1/chat/completions'}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token(agent)}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(input.body),
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const requestId = response.headers.get('x-tollgate-request-id')!;
    await waitFor(() => h.events.some((event) => event.request_id === requestId && (event.type === 'response' || event.type === 'error')), 'outcome event');
    await waitFor(() => h.tollgate.deps.history.pendingEntries === 0, 'history written');
    const event = h.events.find((candidate) => candidate.request_id === requestId && (candidate.type === 'response' || candidate.type === 'error'))!;
    const entry = h.historyLines(agent).find((candidate) => candidate.request_id === requestId)!;
    const [standing] = await h.tollgate.ledger.standing([hour(agent)]);
    assert.equal(standing.reserved, 0, 'nothing held once the call has ended');
    return { status: response.status, bytes, requestId, event, entry, spent: standing.used - before.used };
  }

  /** The usage and cost fields of a call, from its audit event, its history entry and the ledger, in one comparable object. */
  function charge(result: CallResult): Record<string, unknown> {
    const { event, entry } = result;
    const usage = entry.usage as Record<string, unknown>;
    return {
      tokens_in: event.tokens_in,
      tokens_out: event.tokens_out,
      cached_tokens: event.cached_tokens,
      cache_write_tokens: event.cache_write_tokens,
      cost_micros: event.cost_micros,
      estimated: event.usage_estimated,
      history_usage: usage,
      spent: result.spent,
    };
  }

  function assertSaneCharge(result: CallResult, what: string): void {
    const micros = result.event.cost_micros;
    assert.ok(typeof micros === 'number' && Number.isSafeInteger(micros) && micros >= 0, `${what}: cost is whole non-negative micro-dollars: ${micros}`);
    assert.equal((result.entry.usage as Record<string, unknown>).cost_micros, micros, `${what}: history records the cost of the event`);
    assert.equal(result.spent, micros, `${what}: the ledger charged the cost of the event`);
  }

  it('relays every split of a stream byte for byte and meters it as the unsplit stream (both routes, usage asked or not)', async () => {
    const random = seededRandom(20_251_129);
    for (let round = 0; round < 48; round++) {
      const route: Route = round % 3 === 2 ? 'anthropic' : 'openai';
      const wantsUsage = route === 'anthropic' || random() < 0.5;
      const answer = route === 'anthropic' ? anthropicStream(random) : openAIStream(random, { lastWithoutBlank: random() < 0.3 });
      const body =
        route === 'anthropic'
          ? { model: 'claude-sonnet-4-20250514', max_tokens: 64, stream: true, messages: [{ role: 'user', content: `round ${round}` }] }
          : {
              model: 'openai/gpt-4o',
              max_tokens: 64,
              stream: true,
              messages: [{ role: 'user', content: `round ${round}` }],
              ...(wantsUsage ? { stream_options: { include_usage: true } } : {}),
            };
      const expected = wantsUsage ? answer.text : answer.stripped;
      const what = (cut: string) =>
        `round ${round} (${route}, usage ${wantsUsage ? 'asked' : 'not asked'}, ${cut}) ${JSON.stringify(answer.text.slice(0, 80))}`;

      const contentType = ['text/event-stream', 'text/event-stream; charset=utf-8', 'Text/Event-Stream', 'TEXT/EVENT-STREAM;charset=UTF-8'][round % 4];
      const whole = await call({ route, body, behavior: { rawBody: answer.text, rawContentType: contentType } });
      assert.equal(whole.status, 200);
      assert.equal(whole.bytes.toString('utf8'), expected, what('whole'));
      assertSaneCharge(whole, what('whole'));
      assertUsage(whole, answer.usage, route, what('whole'));
      // chunked, every piece is one chunk (the proxy sees exactly these cuts); with a length, TCP cuts where it will
      const cuts: Behavior[] = [
        { pieces: { seed: round + 1, maxBytes: 1 + Math.floor(random() * 40) } },
        { pieces: { seed: round + 1000, maxBytes: 3 } },
        { pieces: { seed: round + 2000, maxBytes: 1 + Math.floor(random() * 200) }, rawContentLength: true },
        { pieces: { seed: round + 3000, maxBytes: 1 + Math.floor(random() * 60) }, rawCloseDelimited: true },
        ...(round % 8 === 0 ? [{ pieces: { seed: round, maxBytes: 1 } }] : []),
      ];
      for (const cut of cuts) {
        const split = await call({ route, body, behavior: { rawBody: answer.text, rawContentType: contentType, ...cut } });
        const label = what(`${contentType}, ${JSON.stringify(cut)}`);
        assert.equal(split.status, 200, label);
        assert.ok(
          split.bytes.equals(Buffer.from(expected, 'utf8')),
          `${label}: client bytes\n${JSON.stringify(split.bytes.toString('utf8'))}\n!==\n${JSON.stringify(expected)}`,
        );
        assert.equal(split.event.type, 'response', label);
        assert.deepEqual(charge(split), charge(whole), `${label}: the same usage and cost as the unsplit stream`);
        const response = split.entry.response as { format: string; text: string };
        assert.deepEqual(response, { format: 'sse', text: answer.text }, `${label}: history holds the stream as upstream sent it`);
      }
    }
  });

  it('reads the usage of a JSON answer however it is cut, framed (length or chunked) or padded (BOM, whitespace)', async () => {
    const random = seededRandom(77);
    for (let round = 0; round < 24; round++) {
      const route: Route = round % 2 === 0 ? 'openai' : 'anthropic';
      const usage = {
        input: 1 + Math.floor(random() * 5000),
        output: 1 + Math.floor(random() * 900),
        cacheRead: Math.floor(random() * 3000),
        cacheWrite: route === 'anthropic' ? Math.floor(random() * 700) : 0,
      };
      const json =
        route === 'anthropic'
          ? {
              id: 'msg_1',
              type: 'message',
              role: 'assistant',
              model: 'claude-sonnet-4-20250514',
              content: [{ type: 'text', text: pickText(random, 6) }],
              stop_reason: 'end_turn',
              usage: {
                input_tokens: usage.input,
                output_tokens: usage.output,
                cache_read_input_tokens: usage.cacheRead,
                cache_creation_input_tokens: usage.cacheWrite,
              },
            }
          : {
              id: 'c1',
              object: 'chat.completion',
              model: 'gpt-4o',
              choices: [{ index: 0, message: { role: 'assistant', content: pickText(random, 6) }, finish_reason: 'stop' }],
              usage: {
                prompt_tokens: usage.input + usage.cacheRead,
                completion_tokens: usage.output,
                prompt_tokens_details: { cached_tokens: usage.cacheRead },
              },
            };
      const pretty = random() < 0.5;
      const text = `${round % 4 === 1 ? '\uFEFF' : ''}${JSON.stringify(json, null, pretty ? 2 : undefined)}${['', '\n', '\r\n', '  \n\t'][round % 4]}`;
      const body =
        route === 'anthropic'
          ? { model: 'claude-sonnet-4-20250514', max_tokens: 64, messages: [{ role: 'user', content: `json ${round}` }] }
          : { model: 'openai/gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: `json ${round}` }] };
      const what = `json round ${round} (${route}) ${JSON.stringify(text.slice(0, 40))}`;
      let baseline: Record<string, unknown> | undefined;
      const framings: Behavior[] = [
        { rawBody: text, rawContentLength: true },
        { rawBody: text, pieces: { seed: round, maxBytes: 1 + Math.floor(random() * 30) } },
        {
          rawBody: text,
          pieces: { seed: round + 1, maxBytes: 1 + Math.floor(random() * 80), gapMs: 1 },
          rawContentLength: round % 2 === 0,
          rawCloseDelimited: round % 2 === 1,
        },
      ];
      for (const behavior of framings) {
        const result = await call({ route, body, behavior });
        assert.equal(result.status, 200, what);
        assert.ok(result.bytes.equals(Buffer.from(text, 'utf8')), `${what}: client bytes as sent`);
        assertSaneCharge(result, what);
        assertUsage(result, usage, route, what);
        assert.deepEqual((result.entry.response as { json: unknown }).json, json, `${what}: history holds the answer as JSON`);
        baseline ??= charge(result);
        assert.deepEqual(charge(result), baseline, `${what}: the same charge whether cut or not`);
      }
    }
  });

  it('keeps the charge whole non-negative micro-dollars for odd usage fields and provider-reported costs', async () => {
    const oddCounts: unknown[] = ['12', 12.5, -3, null, 1e300, 2 ** 53, Number.MAX_SAFE_INTEGER, 0, true, {}, [], '1e3'];
    const oddCosts: unknown[] = ['0.25', 0.1 + 0.2, -1, null, 1e300, 1e12, 'NaN', 'Infinity', '', ' ', 0, '1e-9', 5e-7, 1.5e-6];
    const random = seededRandom(5);
    for (let round = 0; round < ODD_ROUNDS; round++) {
      const route: Route = round % 2 === 0 ? 'openai' : 'anthropic';
      const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
      const fields =
        route === 'anthropic'
          ? {
              input_tokens: pick(oddCounts),
              output_tokens: pick([...oddCounts, 40]),
              cache_read_input_tokens: pick(oddCounts),
              ...(random() < 0.5 ? { cost: pick(oddCosts) } : {}),
            }
          : {
              prompt_tokens: pick([...oddCounts, 40]),
              completion_tokens: pick(oddCounts),
              prompt_tokens_details: { cached_tokens: pick(oddCounts) },
              ...(random() < 0.5 ? { cost: pick(oddCosts) } : {}),
            };
      const stream = random() < 0.5;
      const text = stream
        ? route === 'anthropic'
          ? `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', content: [], usage: fields } })}\n\nevent: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: fields })}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n`
          : `data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\ndata: ${JSON.stringify({ choices: [], usage: fields })}\n\ndata: [DONE]\n\n`
        : JSON.stringify(
            route === 'anthropic'
              ? { type: 'message', content: [{ type: 'text', text: 'x' }], usage: fields }
              : { choices: [{ index: 0, message: { role: 'assistant', content: 'x' } }], usage: fields },
          );
      const body =
        route === 'anthropic'
          ? { model: 'claude-sonnet-4-20250514', max_tokens: 64, stream, messages: [{ role: 'user', content: `odd ${round}` }] }
          : { model: 'openai/gpt-4o', max_tokens: 64, stream, messages: [{ role: 'user', content: `odd ${round}` }] };
      const result = await call({ route, body, behavior: { rawBody: text, pieces: { seed: round, maxBytes: 17 } }, agent: `odd-${round}` });
      const what = `odd round ${round} (${route} ${stream ? 'stream' : 'json'}) ${JSON.stringify(fields)}`;
      assert.equal(result.status, 200, what);
      assertSaneCharge(result, what);
      for (const name of ['tokens_in', 'tokens_out', 'cached_tokens', 'cache_write_tokens']) {
        const value = result.event[name];
        assert.ok(value === undefined || (Number.isSafeInteger(value) && (value as number) >= 0), `${what}: ${name} ${value}`);
      }
    }
  });
});

/** The reported usage reached the audit event and history as the provider counted it (not estimated). */
function assertUsage(result: CallResult, usage: Answer['usage'], route: Route, what: string): void {
  const { event, entry } = result;
  assert.equal(event.usage_estimated, undefined, `${what}: usage read, not estimated`);
  assert.equal(event.tokens_in, usage.input, `${what}: input tokens`);
  assert.equal(event.tokens_out, usage.output, `${what}: output tokens`);
  if (usage.cacheRead > 0) assert.equal(event.cached_tokens, usage.cacheRead, `${what}: cache read tokens`);
  if (route === 'anthropic' && usage.cacheWrite > 0) assert.equal(event.cache_write_tokens, usage.cacheWrite, `${what}: cache write tokens`);
  const recorded = entry.usage as Record<string, unknown>;
  assert.equal(recorded.prompt_tokens, usage.input + usage.cacheRead + (route === 'anthropic' ? usage.cacheWrite : 0), `${what}: history prompt tokens`);
  assert.equal(recorded.completion_tokens, usage.output, `${what}: history completion tokens`);
}

function pickText(random: Random, parts: number): string {
  let text = '';
  for (let i = 0; i < parts; i++) text += TEXTS[Math.floor(random() * TEXTS.length)];
  return text;
}

/** A line-ending style, with the extras real streams carry between events (comments, blank-line runs, id/retry lines). */
function streamShape(random: Random) {
  const eol = ['\n', '\r\n', '\r'][Math.floor(random() * 3)];
  const bom = random() < 0.15 ? '\uFEFF' : '';
  /** Text that may come before an event: nothing, a keep-alive comment block, or a run of blank lines. */
  const between = () => {
    const r = random();
    if (r < 0.15) return `: keepalive${eol}${eol}`;
    if (r < 0.25) return eol.repeat(1 + Math.floor(random() * 3));
    if (r < 0.3) return `:${eol}${eol}`;
    return '';
  };
  return { eol, bom, between };
}

function openAIStream(random: Random, options: { lastWithoutBlank: boolean }): Answer {
  const { eol, bom, between } = streamShape(random);
  const usage = {
    input: 1 + Math.floor(random() * 5000),
    output: 1 + Math.floor(random() * 900),
    cacheRead: random() < 0.5 ? Math.floor(random() * 4000) : 0,
    cacheWrite: 0,
  };
  const base = { id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o' };
  const withId = random() < 0.2;
  const event = (data: unknown, index: number) =>
    `${withId ? `id: ${index}${eol}` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}${eol}${eol}`;
  const blocks: string[] = [];
  blocks.push(event({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], usage: null }, 0));
  const count = Math.floor(random() * 6);
  for (let i = 0; i < count; i++)
    blocks.push(between() + event({ ...base, choices: [{ index: 0, delta: { content: pickText(random, 3) }, finish_reason: null }], usage: null }, i + 1));
  blocks.push(between() + event({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null }, 99));
  const usageObject = {
    prompt_tokens: usage.input + usage.cacheRead,
    completion_tokens: usage.output,
    total_tokens: usage.input + usage.cacheRead + usage.output,
    ...(usage.cacheRead ? { prompt_tokens_details: { cached_tokens: usage.cacheRead } } : {}),
  };
  const pad = between();
  const head = bom + blocks.join('') + pad;
  // the final event with its blank line, with one line end only, or with none
  const lastEnd = options.lastWithoutBlank ? (random() < 0.5 ? eol : '') : `${eol}${eol}`;
  if (random() < 0.2) {
    // no `[DONE]` (some compatible servers): the usage chunk is the last event
    const usageLast = event({ ...base, choices: [], usage: usageObject }, 100).slice(0, -2 * eol.length) + lastEnd;
    return { text: head + usageLast, stripped: head, usage };
  }
  const usageBlock = event({ ...base, choices: [], usage: usageObject }, 100);
  const done = `${between()}data: [DONE]${lastEnd}`;
  return { text: head + usageBlock + done, stripped: head + done, usage };
}

function anthropicStream(random: Random): Answer {
  const { eol, bom, between } = streamShape(random);
  const usage = {
    input: 1 + Math.floor(random() * 5000),
    output: 1 + Math.floor(random() * 900),
    cacheRead: random() < 0.5 ? Math.floor(random() * 4000) : 0,
    cacheWrite: random() < 0.5 ? Math.floor(random() * 2000) : 0,
  };
  const event = (name: string, data: unknown) => `${between()}event: ${name}${eol}data: ${JSON.stringify(data)}${eol}${eol}`;
  let text = bom;
  text += event('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_x',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-20250514',
      content: [],
      stop_reason: null,
      usage: { input_tokens: usage.input, output_tokens: 1, cache_read_input_tokens: usage.cacheRead, cache_creation_input_tokens: usage.cacheWrite },
    },
  });
  text += event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  const count = Math.floor(random() * 6);
  for (let i = 0; i < count; i++) {
    text += random() < 0.2 ? event('ping', { type: 'ping' }) : '';
    text += event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: pickText(random, 3) } });
  }
  text += event('content_block_stop', { type: 'content_block_stop', index: 0 });
  // message_delta: cumulative output; newer API versions repeat the input side there too
  const repeatInput =
    random() < 0.5 ? { input_tokens: usage.input, cache_read_input_tokens: usage.cacheRead, cache_creation_input_tokens: usage.cacheWrite } : {};
  text += event('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { output_tokens: usage.output, ...repeatInput },
  });
  const stop = event('message_stop', { type: 'message_stop' });
  text += random() < 0.3 ? stop.slice(0, stop.length - eol.length) : stop;
  return { text, stripped: text, usage };
}
