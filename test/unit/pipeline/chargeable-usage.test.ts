// What a finished call is charged when the provider reported all, part or none of its usage.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chargeableUsage } from '../../../src/pipeline/chargeable-usage.ts';
import { estimateInputTokens } from '../../../src/budget/estimate.ts';
import type { RelayResult } from '../../../src/stream/tap.ts';
import { chat, messages } from '../../../src/protocol/index.ts';

const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'how many tokens is this prompt?' }] };
const inputEstimate = estimateInputTokens(body, chat);

function relay(fields: Partial<RelayResult>): RelayResult {
  return { end: 'complete', sse: false, usage: null, bodyText: '', dataEvents: 0, generatedBytes: 0, finalUsage: true, truncated: false, ...fields };
}

describe('chargeableUsage', () => {
  it('passes usage the provider reported in full, unflagged', () => {
    const usage = { inputTokens: 12, outputTokens: 7 };
    assert.equal(chargeableUsage({ body, protocol: chat, ok: true, upstreamWorked: true, relay: relay({ usage }) }), usage);
  });

  it('estimates a 2xx JSON answer without usage from the prompt and the generated text', () => {
    const answer = { id: 'chatcmpl-x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'x'.repeat(300) } }] };
    const text = JSON.stringify(answer);
    const usage = chargeableUsage({ body, protocol: chat, ok: true, upstreamWorked: true, relay: relay({ bodyText: text, json: answer }) });
    // choices: keys index, message, role, content (5+7+4+7 = 23 bytes) + "assistant" (9) + 300 → ceil(332 / 3)
    assert.deepEqual(usage, { inputTokens: inputEstimate, outputTokens: 111, estimated: true });
  });

  it("reads an Anthropic answer's content, and a body that is not JSON as a whole", () => {
    const answer = { id: 'msg_x', content: [{ type: 'text', text: 'abcdef' }], usage: null };
    const anthropicBody = { model: 'claude', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };
    const fromContent = chargeableUsage({
      body: anthropicBody,
      protocol: messages,
      ok: true,
      upstreamWorked: true,
      relay: relay({ bodyText: JSON.stringify(answer), json: answer }),
    });
    assert.equal(fromContent?.outputTokens, Math.ceil((4 + 4 + 4 + 6) / 3)); // type, text, "text", "abcdef"
    const html = chargeableUsage({ body, protocol: chat, ok: true, upstreamWorked: true, relay: relay({ bodyText: '<html>no usage here</html>' }) });
    assert.equal(html?.outputTokens, Math.ceil(26 / 3));
    assert.equal(html?.estimated, true);
  });

  it('fills only the side the provider left out', () => {
    const outputOnly = chargeableUsage({
      body,
      protocol: chat,
      ok: true,
      upstreamWorked: true,
      relay: relay({ usage: { outputTokens: 3 }, json: {}, bodyText: '{}' }),
    });
    assert.deepEqual(outputOnly, { inputTokens: inputEstimate, outputTokens: 3, estimated: true });
    const cut = chargeableUsage({
      body,
      protocol: messages,
      ok: true,
      upstreamWorked: true,
      relay: relay({ end: 'upstream_error', sse: true, usage: { inputTokens: 10, cacheReadTokens: 2 }, dataEvents: 4, generatedBytes: 12, finalUsage: false }),
    });
    assert.deepEqual(cut, { inputTokens: 10, cacheReadTokens: 2, outputTokens: 4, estimated: true });
  });

  it('charges a stream without usage for the bytes it generated, not for its number of events', () => {
    // 2 events packing 20 tokens each (~80 bytes each) are 54 tokens, not 2
    const usage = chargeableUsage({
      body,
      protocol: chat,
      ok: true,
      upstreamWorked: true,
      relay: relay({ sse: true, dataEvents: 2, generatedBytes: 160, finalUsage: false }),
    });
    assert.deepEqual(usage, { inputTokens: inputEstimate, outputTokens: 54, estimated: true });
  });

  it("takes a stream's output count as reported only when it is final; before, the larger of it and the estimate", () => {
    const start = { inputTokens: 10, outputTokens: 1 }; // Anthropic message_start: output 1 is a placeholder
    const cut = chargeableUsage({
      body,
      protocol: messages,
      ok: true,
      upstreamWorked: true,
      relay: relay({ end: 'client_aborted', sse: true, usage: start, dataEvents: 9, generatedBytes: 300, finalUsage: false }),
    });
    assert.deepEqual(cut, { inputTokens: 10, outputTokens: 100, estimated: true });
    const partial = chargeableUsage({
      body,
      protocol: chat,
      ok: true,
      upstreamWorked: true,
      relay: relay({ end: 'incomplete', sse: true, usage: { inputTokens: 10, outputTokens: 500 }, dataEvents: 9, generatedBytes: 300, finalUsage: false }),
    });
    assert.deepEqual(partial, { inputTokens: 10, outputTokens: 500, estimated: true }, 'a partial report above the estimate stands, flagged');
    const final = { inputTokens: 10, outputTokens: 40 };
    const done = chargeableUsage({
      body,
      protocol: messages,
      ok: true,
      upstreamWorked: true,
      relay: relay({ end: 'client_aborted', sse: true, usage: final, dataEvents: 9, generatedBytes: 300, finalUsage: true }),
    });
    assert.equal(done, final, "once final, the count is the provider's, even under the estimate");
  });

  it('never estimates past the output cap the upstream was sent, times n', () => {
    const sent = { ...body, max_tokens: 40, n: 2 };
    const cut = chargeableUsage({
      body,
      protocol: chat,
      ok: true,
      upstreamWorked: true,
      upstreamBody: sent,
      relay: relay({ end: 'client_aborted', sse: true, dataEvents: 9, generatedBytes: 900, finalUsage: false }),
    });
    assert.deepEqual(cut, { inputTokens: inputEstimate, outputTokens: 80, estimated: true });
    const partial = chargeableUsage({
      body,
      protocol: chat,
      ok: true,
      upstreamWorked: true,
      upstreamBody: sent,
      relay: relay({ end: 'incomplete', sse: true, usage: { inputTokens: 10, outputTokens: 90 }, dataEvents: 9, generatedBytes: 900, finalUsage: false }),
    });
    assert.equal(partial?.outputTokens, 90, "a reported count above the cap is the provider's word, kept");
    const uncapped = chargeableUsage({
      body,
      protocol: chat,
      ok: true,
      upstreamWorked: true,
      upstreamBody: body,
      relay: relay({ end: 'client_aborted', sse: true, dataEvents: 9, generatedBytes: 900, finalUsage: false }),
    });
    assert.equal(uncapped?.outputTokens, 300, 'no cap sent: the estimate stands');
  });

  it('charges the prompt of a call cut after the upstream had its request, before any answer', () => {
    const cutJson = chargeableUsage({ body, protocol: chat, ok: false, upstreamWorked: true, relay: relay({ end: 'client_aborted' }) });
    assert.deepEqual(cutJson, { inputTokens: inputEstimate, outputTokens: 0, estimated: true });
    const cutStream = chargeableUsage({ body, protocol: chat, ok: true, upstreamWorked: true, relay: relay({ end: 'upstream_idle', sse: true }) });
    assert.deepEqual(cutStream, { inputTokens: inputEstimate, outputTokens: 0, estimated: true });
  });

  it('charges nothing a call did not consume', () => {
    assert.equal(
      chargeableUsage({ body, protocol: chat, ok: false, upstreamWorked: true, relay: relay({ bodyText: '{"error":{}}', json: { error: {} } }) }),
      null,
    );
    assert.equal(
      chargeableUsage({ body, protocol: chat, ok: true, upstreamWorked: false, relay: relay({ end: 'upstream_error' }) }),
      null,
      'the upstream never worked on the request',
    );
    const errorWithUsage = { inputTokens: 5 };
    assert.equal(
      chargeableUsage({ body, protocol: chat, ok: false, upstreamWorked: true, relay: relay({ usage: errorWithUsage }) }),
      errorWithUsage,
      'an error that reported usage is charged as reported',
    );
  });
});
