// Tests for the incremental SSE parser: fields, line ends, comments, chunk boundaries anywhere, byte-exact raw text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseBlockTooLargeError, SseParser, type SseEvent } from '../../../src/protocol/sse-parser.ts';

function parseAll(chunks: Array<Buffer | string>): SseEvent[] {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  for (const chunk of chunks) events.push(...parser.push(chunk));
  events.push(...parser.end());
  return events;
}

function fields(events: SseEvent[]): Array<{ event?: string; data: string }> {
  return events.map((e) => (e.event === undefined ? { data: e.data } : { event: e.event, data: e.data }));
}

const SAMPLE = [
  ': ping\n\n',
  'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":12}}}\n\n',
  'data: {"choices":[{"delta":{"content":"héllo wörld ✓ 🎉"}}]}\r\n\r\n',
  'event: multi\r\ndata: first\r\ndata: second\r\n\r\n',
  'data:no-space\rid: 7\r\r',
  'retry: 100\ndata\ndata:  two spaces\n\n',
  '\n',
  'data: [DONE]\n\n',
].join('');

test('parses events, comments, multi-line data and every line-end style', () => {
  const events = parseAll([SAMPLE]);
  assert.deepEqual(fields(events), [
    { data: '' },
    { event: 'message_start', data: '{"type":"message_start","message":{"usage":{"input_tokens":12}}}' },
    { data: '{"choices":[{"delta":{"content":"héllo wörld ✓ 🎉"}}]}' },
    { event: 'multi', data: 'first\nsecond' },
    { data: 'no-space' },
    { data: '\n two spaces' },
    { data: '' },
    { data: '[DONE]' },
  ]);
  assert.equal(events.map((e) => e.raw).join(''), SAMPLE);
  assert.equal(events[1]!.raw, 'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":12}}}\n\n');
  assert.equal(events[3]!.raw, 'event: multi\r\ndata: first\r\ndata: second\r\n\r\n');
});

test('a chunk boundary at every byte offset gives the same events (bytes split inside UTF-8 characters and CRLF pairs)', () => {
  const bytes = Buffer.from(SAMPLE, 'utf8');
  const expected = parseAll([bytes]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const events = parseAll([bytes.subarray(0, cut), bytes.subarray(cut)]);
    assert.deepEqual(events, expected, `cut at byte ${cut}`);
  }
});

test('two chunk boundaries at every pair of offsets give the same events', () => {
  const bytes = Buffer.from(SAMPLE.slice(0, 160), 'utf8');
  const expected = parseAll([bytes]);
  for (let a = 0; a <= bytes.length; a++) {
    for (let b = a; b <= bytes.length; b++) {
      const events = parseAll([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
      assert.deepEqual(events, expected, `cuts at ${a} and ${b}`);
    }
  }
});

test('byte-at-a-time feeding gives the same events', () => {
  const bytes = Buffer.from(SAMPLE, 'utf8');
  const chunks = [...bytes].map((b) => Buffer.from([b]));
  assert.deepEqual(parseAll(chunks), parseAll([bytes]));
});

test('string chunks work like buffers', () => {
  const chunks = SAMPLE.match(/[\s\S]{1,7}/g)!;
  assert.deepEqual(parseAll(chunks), parseAll([Buffer.from(SAMPLE)]));
});

test('events are returned as soon as their blank line arrives', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('data: a\n'), []);
  assert.deepEqual(fields(parser.push('\ndata: b')), [{ data: 'a' }]);
  assert.deepEqual(parser.push('\n'), []);
  assert.deepEqual(fields(parser.push('\n')), [{ data: 'b' }]);
});

test('a final event without a trailing blank line is returned by end()', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('data: one\n\ndata: tw'), [{ data: 'one', raw: 'data: one\n\n' }]);
  assert.deepEqual(parser.push('o'), []);
  assert.deepEqual(parser.end(), [{ data: 'two', raw: 'data: two' }]);
  assert.deepEqual(parser.end(), []);
});

test('a block ended by CR at the end of a chunk is held until the next byte shows whether LF follows', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('data: x\r\n\r'), []);
  assert.deepEqual(parser.push('\ndata: y\r\r'), [{ data: 'x', raw: 'data: x\r\n\r\n' }]);
  assert.deepEqual(parser.push('data: z\n\n'), [
    { data: 'y', raw: 'data: y\r\r' },
    { data: 'z', raw: 'data: z\n\n' },
  ]);
  const held = new SseParser();
  assert.deepEqual(held.push('data: q\r\r'), []);
  assert.deepEqual(held.end(), [{ data: 'q', raw: 'data: q\r\r' }]);
});

test('a multi-byte character split across chunks is decoded once', () => {
  const bytes = Buffer.from('data: 🎉\n\n', 'utf8');
  const parser = new SseParser();
  const events = [...parser.push(bytes.subarray(0, 8)), ...parser.push(bytes.subarray(8, 9)), ...parser.push(bytes.subarray(9))];
  assert.deepEqual(events, [{ data: '🎉', raw: 'data: 🎉\n\n' }]);
});

test('a leading byte-order mark is kept in raw and ignored in fields', () => {
  const events = parseAll([Buffer.from('\uFEFFdata: a\n\n', 'utf8')]);
  assert.deepEqual(events, [{ data: 'a', raw: '\uFEFFdata: a\n\n' }]);
});

test('field lines without a colon, unknown fields and comments are handled per the SSE rules', () => {
  const events = parseAll(['event\ndata\n: comment\nfoo: bar\nevent: x\n\n']);
  assert.deepEqual(events, [{ event: 'x', data: '', raw: 'event\ndata\n: comment\nfoo: bar\nevent: x\n\n' }]);
  assert.deepEqual(parseAll(['data:\n\n']), [{ data: '', raw: 'data:\n\n' }]);
});

test('a large event arriving in many small chunks is assembled whole', () => {
  const payload = 'x'.repeat(200_000);
  const text = `data: ${payload}\n\n`;
  const chunks = text.match(/[\s\S]{1,100}/g)!;
  const events = parseAll(chunks);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.data, payload);
  assert.equal(events[0]!.raw, text);
});

test('refuses to hold an unfinished block past its limit, and forgets it', () => {
  const parser = new SseParser({ maxBlockChars: 100 });
  assert.equal(parser.push('data: one\n\ndata: ').length, 1);
  assert.deepEqual(parser.push('x'.repeat(60)), []);
  assert.throws(
    () => parser.push('x'.repeat(60)),
    (error: unknown) => error instanceof SseBlockTooLargeError && error.maxChars === 100,
  );
  assert.deepEqual(parser.end(), [], 'the refused block is gone');
  const whole = new SseParser({ maxBlockChars: 100 });
  const big = `data: ${'y'.repeat(500)}\n\n`;
  assert.equal(whole.push(big)[0].raw, big, 'a block that arrives whole in one chunk is not held, so not limited');
});
