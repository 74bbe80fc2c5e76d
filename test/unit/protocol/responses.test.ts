// The Responses API protocol: usage of a response object, its stream's terminal events, caps and errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyError } from '../../../src/errors.ts';
import { responses } from '../../../src/protocol/responses/protocol.ts';
import { SseParser, type SseEvent } from '../../../src/protocol/sse-parser.ts';

const usage = {
  input_tokens: 12,
  input_tokens_details: { cached_tokens: 4 },
  output_tokens: 9,
  output_tokens_details: { reasoning_tokens: 5 },
  total_tokens: 21,
};

function read(text: string) {
  const reader = responses.streamUsageReader();
  const parser = new SseParser();
  for (const event of parser.push(text) as SseEvent[]) reader.onEvent(event);
  return reader;
}

const event = (type: string, fields: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;

describe('Responses protocol', () => {
  it('reads input (less the cached part), cached input, output and reasoning tokens from a response object', () => {
    assert.deepEqual(responses.usageFromJson({ object: 'response', usage }), { inputTokens: 8, outputTokens: 9, cacheReadTokens: 4, reasoningTokens: 5 });
    assert.equal(responses.usageFromJson({ object: 'response', usage: null }), null);
    assert.equal(responses.usageFromJson({ error: { message: 'x' } }), null);
  });

  it('takes a stream usage as final only from its terminal event', () => {
    const head = event('response.created', { response: { status: 'in_progress', usage: null } }) + event('response.output_text.delta', { delta: 'hi "usage"' });
    const cut = read(head);
    assert.deepEqual([cut.usage, cut.finalUsage, cut.terminated], [null, false, false]);
    const done = read(head + event('response.completed', { response: { status: 'completed', usage } }));
    assert.deepEqual([done.usage?.outputTokens, done.finalUsage, done.terminated], [9, true, true]);
    const incomplete = read(head + event('response.incomplete', { response: { status: 'incomplete', usage } }));
    assert.deepEqual([incomplete.usage?.inputTokens, incomplete.finalUsage, incomplete.terminated], [8, true, true]);
    const unnamed = read(`data: ${JSON.stringify({ type: 'response.completed', response: { usage } })}\n\n`);
    assert.equal(unnamed.finalUsage, true);
    const failed = read(event('response.failed', { response: { status: 'failed', usage: null } }));
    assert.deepEqual([failed.usage, failed.finalUsage, failed.terminated], [null, false, true]);
  });

  it('checks max_output_tokens like max_tokens and caps the upstream body in that field', () => {
    assert.equal(responses.readCallParams({ max_output_tokens: 300 }).outputCap, 300);
    assert.equal(responses.readCallParams({ max_tokens: 5 }).outputCap, null, 'max_tokens is no Responses field');
    for (const bad of ['300', 0, -1, 1.5, 1e16, [], {}]) {
      assert.throws(
        () => responses.readCallParams({ max_output_tokens: bad }),
        (error: unknown) => error instanceof ProxyError && error.code === 'invalid_parameter' && error.param === 'max_output_tokens',
      );
    }
    const body: Record<string, unknown> = {};
    assert.equal(responses.setOutputCap({ body, provider: 'openai', cap: 77 }), 'max_output_tokens');
    assert.equal(body.max_output_tokens, 77);
  });

  it('frames input items and instructions for the estimate, and writes a stream error an SDK raises', () => {
    assert.equal(responses.promptMessages({ input: 'hi', instructions: 'be brief' }), 2);
    assert.equal(
      responses.promptMessages({
        input: [
          { role: 'user', content: 'a' },
          { role: 'user', content: 'b' },
        ],
      }),
      2,
    );
    const block = responses.streamErrorEvent({ message: 'cut', code: 'upstream_error' });
    const data = JSON.parse(block.split('\n')[1].slice('data: '.length));
    assert.equal(data.type, 'error');
    assert.equal(data.error.message, 'cut');
  });
});
