// Input-token upper bounds from request bodies of both dialects, and the client's output cap.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BodyEstimate, estimateInputTokens, IMAGE_TOKENS } from '../../../src/budget/estimate.ts';
import { chat, messages } from '../../../src/protocol/index.ts';
import type { Protocol } from '../../../src/protocol/protocol.ts';

describe('estimateInputTokens', () => {
  it('counts UTF-8 bytes / 3 plus keys, 4 tokens per message and 3 per request (OpenAI)', () => {
    // "role"(4)+"user"(4)+"content"(7)+"hello world"(11) = 26 bytes → 9 tokens; 1 message → 4; request → 3
    const body = { model: 'openai/gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'hello world' }] };
    assert.equal(estimateInputTokens(body, chat), 9 + 4 + 3);
  });

  it('counts the Anthropic top-level system as a message', () => {
    const body = { model: 'claude', max_tokens: 10, system: 'abc', messages: [{ role: 'user', content: 'hi' }] };
    // "abc"(3) + role(4)+user(4)+content(7)+hi(2) = 20 → 7; 2 messages → 8; +3
    assert.equal(estimateInputTokens(body, messages), 7 + 8 + 3);
  });

  it('counts multi-byte text by bytes', () => {
    const ascii = estimateInputTokens({ messages: [{ content: 'aaaaaaaaa' }] }, chat);
    const cjk = estimateInputTokens({ messages: [{ content: '日本語日本語日本語' }] }, chat);
    assert.equal(cjk - ascii, (27 - 9) / 3);
  });

  it('charges a fixed amount per image instead of its base64 bytes', () => {
    const huge = 'data:image/png;base64,' + 'A'.repeat(300_000);
    const openai = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this' },
            { type: 'image_url', image_url: { url: huge } },
          ],
        },
      ],
    };
    const anthropic = {
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'A'.repeat(300_000) } }] }],
    };
    assert.ok(estimateInputTokens(openai, chat) < IMAGE_TOKENS + 100);
    assert.ok(estimateInputTokens(openai, chat) >= IMAGE_TOKENS);
    assert.ok(estimateInputTokens(anthropic, messages) >= IMAGE_TOKENS && estimateInputTokens(anthropic, messages) < IMAGE_TOKENS + 100);
  });

  it('includes tools, tool calls and tool results', () => {
    const base = { messages: [{ role: 'user', content: 'x' }] };
    const withTools = { ...base, tools: [{ type: 'function', function: { name: 'lookup', description: 'x'.repeat(300), parameters: { type: 'object' } } }] };
    assert.ok(estimateInputTokens(withTools, chat) - estimateInputTokens(base, chat) >= 100);
  });

  it('is an upper bound of reported usage for ordinary English text', () => {
    // ~4.2 bytes per token on English prose: 4,200 bytes are about 1,000 real tokens
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(93);
    assert.ok(estimateInputTokens({ messages: [{ role: 'user', content: text }] }, chat) > 1_000 * 1.25);
  });

  it('ignores parameters and survives deep nesting', () => {
    let deep: unknown = 'x';
    for (let depth = 0; depth < 20_000; depth++) deep = [deep];
    assert.ok(estimateInputTokens({ messages: [{ content: deep }], model: 'm'.repeat(3000), metadata: { user_id: 'u'.repeat(3000) } }, chat) < 20);
  });
});

describe('BodyEstimate output tokens', () => {
  const cases: [string, Record<string, unknown>, Protocol, number | null, number][] = [
    ['OpenAI max_tokens', { max_tokens: 100 }, chat, 100, 1],
    ['OpenAI the larger of max_completion_tokens and max_tokens', { max_tokens: 100, max_completion_tokens: 300 }, chat, 300, 1],
    ['OpenAI max_tokens larger than max_completion_tokens', { max_tokens: 20_000, max_completion_tokens: 1 }, chat, 20_000, 1],
    ['OpenAI n multiplies', { max_tokens: 100, n: 3 }, chat, 300, 3],
    ['OpenAI none, n kept for the default', { n: 8 }, chat, null, 8],
    ['OpenAI null is not set', { max_tokens: null, n: null }, chat, null, 1],
    ['Anthropic max_tokens', { max_tokens: 1024 }, messages, 1024, 1],
    ['Anthropic ignores max_completion_tokens and n', { max_completion_tokens: 5, n: 4 }, messages, null, 1],
  ];
  for (const [name, body, protocol, expected, choices] of cases) {
    it(name, () => {
      const estimate = new BodyEstimate({ body, protocol, params: protocol.readCallParams(body) });
      assert.equal(estimate.maxOutputTokens, expected);
      assert.equal(estimate.choices, choices);
    });
  }
});
