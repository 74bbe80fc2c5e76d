// Tests for stream usage accumulators: OpenAI usage chunk and its exact detection, Anthropic start/delta merge, cheap skipping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, type SseEvent } from '../../../src/protocol/sse-parser.ts';
import { OpenAIStreamUsage, mayCarryUsage } from '../../../src/protocol/chat/stream-usage.ts';
import { AnthropicStreamUsage } from '../../../src/protocol/messages/stream-usage.ts';

function events(text: string): SseEvent[] {
  const parser = new SseParser();
  return [...parser.push(text), ...parser.end()];
}

const OPENAI_STREAM = [
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"the \\"usage\\": field"}}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":200,"completion_tokens":80,"total_tokens":280,"prompt_tokens_details":{"cached_tokens":64}}}\n\n',
  'data: [DONE]\n\n',
].join('');

test('openai: usage comes from the final usage chunk, [DONE] is seen', () => {
  const meter = new OpenAIStreamUsage();
  const all = events(OPENAI_STREAM);
  for (const e of all) meter.onEvent(e);
  assert.deepEqual(meter.usage, { inputTokens: 136, outputTokens: 80, cacheReadTokens: 64 });
  assert.equal(meter.terminated, true);
  assert.deepEqual(
    all.map((e) => meter.isUsageOnlyChunk(e)),
    [false, false, false, true, false],
  );
});

test('openai: usage-only detection is exact', () => {
  const meter = new OpenAIStreamUsage();
  const check = (data: string) => meter.isUsageOnlyChunk({ data, raw: `data: ${data}\n\n` });
  assert.equal(check('{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}'), true);
  assert.equal(check('{"id":"x","usage":{"prompt_tokens":1}}'), true, 'choices absent');
  assert.equal(check('{"choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":1}}'), false, 'choices and usage');
  assert.equal(check('{"choices":[],"usage":null}'), false);
  assert.equal(check('{"choices":[]}'), false);
  assert.equal(check('{"choices":[],"usage":{"prompt_tokens":1},"error":{"message":"x"}}'), false, 'error chunk');
  assert.equal(check('{"choices":"none","usage":{"prompt_tokens":1}}'), false);
  assert.equal(check('[DONE]'), false);
  assert.equal(check('not json "usage": 1'), false);
  assert.equal(check(''), false);
});

test('openai: the answer for the event just fed matches a fresh check', () => {
  const fed = new OpenAIStreamUsage();
  const fresh = new OpenAIStreamUsage();
  for (const e of events(OPENAI_STREAM)) {
    fed.onEvent(e);
    assert.equal(fed.isUsageOnlyChunk(e), fresh.isUsageOnlyChunk(e));
  }
});

test('openai: no usage reported stays null (absent is not zero), zero stays zero', () => {
  const none = new OpenAIStreamUsage();
  for (const e of events('data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n')) none.onEvent(e);
  assert.equal(none.usage, null);
  assert.equal(none.terminated, true);
  const zero = new OpenAIStreamUsage();
  for (const e of events('data: {"choices":[],"usage":{"prompt_tokens":0,"completion_tokens":0}}\n\n')) zero.onEvent(e);
  assert.deepEqual(zero.usage, { inputTokens: 0, outputTokens: 0 });
  assert.equal(zero.terminated, true, 'the usage-only chunk ends a stream (some servers send no [DONE] after it)');
});

test('openai: usage on every chunk (vLLM continuous stats) keeps the latest; a cut stream keeps what it saw', () => {
  const meter = new OpenAIStreamUsage();
  const text = [1, 2, 3].map((n) => `data: {"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":10,"completion_tokens":${n}}}\n\n`).join('');
  for (const e of events(text)) {
    meter.onEvent(e);
    assert.equal(meter.isUsageOnlyChunk(e), false);
  }
  assert.deepEqual(meter.usage, { inputTokens: 10, outputTokens: 3 });
  assert.equal(meter.terminated, false);
});

test('openai: openrouter usage chunk with cost', () => {
  const meter = new OpenAIStreamUsage();
  for (const e of events(
    'data: {"choices":[],"usage":{"prompt_tokens":13,"completion_tokens":16,"cost":0.000093,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}\n\n',
  ))
    meter.onEvent(e);
  assert.deepEqual(meter.usage, { inputTokens: 13, outputTokens: 16, cacheReadTokens: 0, cacheWriteTokens: 0, reportedCostUsd: 0.000093 });
});

test('openai: the cheap check rejects content chunks and accepts any chunk that may carry usage', () => {
  assert.equal(mayCarryUsage('{"choices":[{"delta":{"content":"hi"}}]}'), false);
  assert.equal(mayCarryUsage('{"choices":[],"usage":null}'), false);
  assert.equal(mayCarryUsage('{"choices":[], "usage" : null }'), false);
  assert.equal(mayCarryUsage('{"choices":[{"delta":{"content":"say \\"usage\\": now"}}],"usage":null}'), false);
  assert.equal(mayCarryUsage('{"usage":{"prompt_tokens":1}}'), true);
  assert.equal(mayCarryUsage('{"usage" :\n{"prompt_tokens":1}}'), true);
  assert.equal(mayCarryUsage('{"usage":null,"x":{"usage":{"prompt_tokens":1}}}'), true);
});

const ANTHROPIC_STREAM = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":140,"cache_creation_input_tokens":1000,"cache_read_input_tokens":3000,"output_tokens":1}}}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
  'event: ping\ndata: {"type": "ping"}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\\"usage\\":{\\"output_tokens\\":999}"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":45}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join('');

test('anthropic: message_start input and cache tokens, message_delta cumulative output', () => {
  const meter = new AnthropicStreamUsage();
  for (const e of events(ANTHROPIC_STREAM)) meter.onEvent(e);
  assert.deepEqual(meter.usage, { inputTokens: 140, outputTokens: 45, cacheReadTokens: 3000, cacheWriteTokens: 1000 });
  assert.equal(meter.terminated, true);
});

test('anthropic: message_delta with cumulative input and cache fields updates them; a later zero does not erase a count', () => {
  const meter = new AnthropicStreamUsage();
  const text = [
    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":100,"output_tokens":1}}}\n\n',
    'event: message_delta\ndata: {"type":"message_delta","usage":{"input_tokens":0,"output_tokens":10}}\n\n',
    'event: message_delta\ndata: {"type":"message_delta","usage":{"cache_read_input_tokens":50,"output_tokens":20}}\n\n',
  ].join('');
  for (const e of events(text)) meter.onEvent(e);
  assert.deepEqual(meter.usage, { inputTokens: 100, outputTokens: 20, cacheReadTokens: 50 });
  assert.equal(meter.terminated, false);
});

test('anthropic: a provider that reports input only on message_delta is counted', () => {
  const meter = new AnthropicStreamUsage();
  const text =
    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":0,"output_tokens":0}}}\n\n' +
    'event: message_delta\ndata: {"type":"message_delta","usage":{"input_tokens":77,"output_tokens":5}}\n\n';
  for (const e of events(text)) meter.onEvent(e);
  assert.deepEqual(meter.usage, { inputTokens: 77, outputTokens: 5 });
});

test('anthropic: events without event: lines are recognised by their type', () => {
  const meter = new AnthropicStreamUsage();
  const text =
    'data: {"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}\n\n' +
    'data: {"type":"message_delta","usage":{"output_tokens":9}}\n\ndata: {"type":"message_stop"}\n\n';
  for (const e of events(text)) meter.onEvent(e);
  assert.deepEqual(meter.usage, { inputTokens: 5, outputTokens: 9 });
  assert.equal(meter.terminated, true);
});

test('anthropic: no usage is null; broken JSON and wrong types are ignored', () => {
  const meter = new AnthropicStreamUsage();
  const text =
    'event: message_start\ndata: {"type":"message_start","message":{"usage":"x"}}\n\n' +
    'event: message_delta\ndata: {"usage": {broken\n\n' +
    'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"},"usage":{"output_tokens":3}}\n\n';
  for (const e of events(text)) meter.onEvent(e);
  assert.equal(meter.usage, null);
});

test('openai: usage is final at the usage-only chunk, or at [DONE] after usage on content chunks; never before', () => {
  const states = (text: string) => finalAfterEach(new OpenAIStreamUsage(), text);
  assert.deepEqual(states(OPENAI_STREAM), [false, false, false, true, true]);
  const everyChunk = [1, 2].map((n) => `data: {"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":10,"completion_tokens":${n}}}\n\n`).join('');
  assert.deepEqual(states(`${everyChunk}data: [DONE]\n\n`), [false, false, true], 'a cumulative report on content chunks is partial until [DONE]');
  assert.deepEqual(states('data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'), [false, false], 'no usage at all is never final');
});

test("anthropic: message_start's output_tokens is a placeholder; the count is final at the message_delta that ends the message", () => {
  const states = (text: string) => finalAfterEach(new AnthropicStreamUsage(), text);
  assert.deepEqual(states(ANTHROPIC_STREAM), [false, false, false, false, false, true, true]);
  const several = [
    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":100,"output_tokens":1}}}\n\n',
    'event: message_delta\ndata: {"type":"message_delta","delta":{},"usage":{"output_tokens":10}}\n\n',
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":20}}\n\n',
  ].join('');
  assert.deepEqual(states(several), [false, false, true], 'an earlier message_delta without a stop reason is not the last');
  const noDelta =
    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n';
  assert.deepEqual(states(noDelta), [false, false], 'message_stop without any message_delta leaves the placeholder unconfirmed');
});

/** Whether the usage is final after each event of `text`. */
function finalAfterEach(meter: { onEvent(event: SseEvent): void; readonly finalUsage: boolean }, text: string): boolean[] {
  return events(text).map((e) => {
    meter.onEvent(e);
    return meter.finalUsage;
  });
}
