// Tests for usage extraction from non-streamed OpenAI and Anthropic bodies: field mapping, cache tokens, absent vs zero, bad types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { usageFromOpenAIJson } from '../../../src/protocol/chat/usage.ts';
import { usageFromAnthropicJson } from '../../../src/protocol/messages/usage.ts';

test('openai: prompt and completion tokens', () => {
  assert.deepEqual(usageFromOpenAIJson({ choices: [], usage: { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 } }), {
    inputTokens: 100,
    outputTokens: 50,
  });
});

test('openai: cached tokens are split out of prompt_tokens', () => {
  const body = { usage: { prompt_tokens: 2000, completion_tokens: 10, prompt_tokens_details: { cached_tokens: 1536 } } };
  assert.deepEqual(usageFromOpenAIJson(body), { inputTokens: 464, outputTokens: 10, cacheReadTokens: 1536 });
});

test('openrouter: cache writes and reported cost (number or numeric string)', () => {
  const body = { usage: { prompt_tokens: 194, completion_tokens: 2, cost: 0.95, prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 100 } } };
  assert.deepEqual(usageFromOpenAIJson(body), { inputTokens: 94, outputTokens: 2, cacheReadTokens: 0, cacheWriteTokens: 100, reportedCostUsd: 0.95 });
  assert.deepEqual(usageFromOpenAIJson({ usage: { cost: '0.1234' } }), { reportedCostUsd: 0.1234 });
});

test('openai: absent usage is null, zero usage is zero', () => {
  assert.equal(usageFromOpenAIJson({ id: 'x', choices: [] }), null);
  assert.equal(usageFromOpenAIJson({ usage: null }), null);
  assert.equal(usageFromOpenAIJson({ usage: {} }), null);
  assert.equal(usageFromOpenAIJson(null), null);
  assert.equal(usageFromOpenAIJson('usage'), null);
  assert.equal(usageFromOpenAIJson([{ usage: { prompt_tokens: 1 } }]), null);
  assert.deepEqual(usageFromOpenAIJson({ usage: { prompt_tokens: 0, completion_tokens: 0 } }), { inputTokens: 0, outputTokens: 0 });
});

test('openai: fields of the wrong type are ignored, not thrown', () => {
  const body = { usage: { prompt_tokens: '100', completion_tokens: 50, prompt_tokens_details: { cached_tokens: -3 }, cost: 'free' } };
  assert.deepEqual(usageFromOpenAIJson(body), { outputTokens: 50 });
  assert.equal(usageFromOpenAIJson({ usage: { prompt_tokens: 1.5, completion_tokens: null, cost: Number.NaN } }), null);
  assert.deepEqual(usageFromOpenAIJson({ usage: { prompt_tokens: 10, prompt_tokens_details: 'none' } }), { inputTokens: 10 });
});

test('openai: cached tokens larger than prompt_tokens never give negative input', () => {
  assert.deepEqual(usageFromOpenAIJson({ usage: { prompt_tokens: 10, prompt_tokens_details: { cached_tokens: 20 } } }), {
    inputTokens: 0,
    cacheReadTokens: 20,
  });
});

test('openai: an error body that reports usage is read', () => {
  const body = { error: { message: 'content filtered', type: 'invalid_request_error' }, usage: { prompt_tokens: 30, completion_tokens: 0 } };
  assert.deepEqual(usageFromOpenAIJson(body), { inputTokens: 30, outputTokens: 0 });
  assert.equal(usageFromOpenAIJson({ error: { message: 'bad key' } }), null);
});

test('openai: Responses-API names are understood', () => {
  const body = { usage: { input_tokens: 300, output_tokens: 20, input_tokens_details: { cached_tokens: 100 } } };
  assert.deepEqual(usageFromOpenAIJson(body), { inputTokens: 200, outputTokens: 20, cacheReadTokens: 100 });
});

test('anthropic: input, output and cache tokens', () => {
  const body = { type: 'message', usage: { input_tokens: 180, output_tokens: 60, cache_creation_input_tokens: 2000, cache_read_input_tokens: 5000 } };
  assert.deepEqual(usageFromAnthropicJson(body), { inputTokens: 180, outputTokens: 60, cacheReadTokens: 5000, cacheWriteTokens: 2000 });
});

test('anthropic: message.usage (message_start shape) is read when there is no top-level usage', () => {
  assert.deepEqual(usageFromAnthropicJson({ type: 'message_start', message: { usage: { input_tokens: 7, output_tokens: 1 } } }), {
    inputTokens: 7,
    outputTokens: 1,
  });
});

test('anthropic: absent is null, zero is zero, wrong types ignored, error bodies read', () => {
  assert.equal(usageFromAnthropicJson({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }), null);
  assert.equal(usageFromAnthropicJson({ usage: 'lots' }), null);
  assert.equal(usageFromAnthropicJson(undefined), null);
  assert.deepEqual(usageFromAnthropicJson({ usage: { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: null } }), {
    inputTokens: 0,
    outputTokens: 0,
  });
  assert.deepEqual(usageFromAnthropicJson({ usage: { input_tokens: 12, output_tokens: '5' } }), { inputTokens: 12 });
  assert.deepEqual(usageFromAnthropicJson({ type: 'error', error: { type: 'x' }, usage: { input_tokens: 9, output_tokens: 0 } }), {
    inputTokens: 9,
    outputTokens: 0,
  });
});
