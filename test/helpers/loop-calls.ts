// Test helper: the calls a looping agent makes through the OpenAI SDK, an SDK client that counts its HTTP calls, and a call's outcome.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

/** The same tool call again and again, as a stuck agent sends it (fresh call ids, the same arguments, varying results). */
export function toolLoop(client: OpenAI, i: number, tool: { name: string; args: string } = { name: 'run_tests', args: '{"path":"src"}' }) {
  return client.chat.completions.create({
    model: 'openai/gpt-4o',
    max_tokens: 50,
    messages: [
      { role: 'user', content: 'fix the failing test' },
      { role: 'assistant', content: null, tool_calls: [{ id: `call_${i}`, type: 'function', function: { name: tool.name, arguments: tool.args } }] },
      { role: 'tool', tool_call_id: `call_${i}`, content: `1 failed (run ${i})` },
    ],
  });
}

/** An SDK client whose HTTP calls are counted (a refusal the SDK retried shows as more than one). */
export function countingClient(options: { baseURL: string; apiKey: string; maxRetries: number }): { client: OpenAI; httpCalls: () => number } {
  let calls = 0;
  const client = new OpenAI({
    ...options,
    fetch: async (url, init) => {
      calls++;
      return fetch(url, init);
    },
  });
  return { client, httpCalls: () => calls };
}

/** `ok`, or the refusal's `code:x-should-retry` (`loop_detected:false` for a hard stop). */
export async function callOutcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof OpenAI.APIError, String(error));
    return `${(error.error as { code: string }).code}:${error.headers?.get('x-should-retry')}`;
  }
}

/** What a looping agent meets with `same_tool_call: 3, escalate_after: 2, action: hard_stop`: 2 quiet, 2 alerted, 2 rate-limited, then stopped. */
export const ESCALATION = [
  'ok',
  'ok',
  'ok',
  'ok',
  'loop_detected:true',
  'loop_detected:true',
  'loop_detected:false',
  'loop_detected:false',
  'loop_detected:false',
];
