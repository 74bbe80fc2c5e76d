// The generated text of an SSE event, counted without parsing it: equal to a JSON.parse reference on random deltas.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generatedBytes } from '../../../src/stream/generated-bytes.ts';
import { seededRandom } from '../../helpers/random.ts';
import { eventDeltaBytes } from '../../helpers/sse-reference.ts';

const ALPHABET = ['a', 'Z', ' ', '"', '\\', '\n', '\t', 'é', '€', '你', '😀', '\u0001', 'delta', '"delta":', '{', '}', '[', ']', ':', ','];

function randomText(random: () => number): string {
  let text = '';
  const length = Math.floor(random() * 12);
  for (let i = 0; i < length; i++) text += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return text;
}

function randomDelta(random: () => number): unknown {
  const shape = Math.floor(random() * 5);
  if (shape === 0) return { type: 'text_delta', text: randomText(random) };
  if (shape === 1) return { type: 'input_json_delta', partial_json: randomText(random) };
  if (shape === 2) return { role: 'assistant', content: randomText(random), reasoning_content: random() < 0.5 ? null : randomText(random) };
  if (shape === 3)
    return { tool_calls: [{ index: 0, id: 'call_abc', type: 'function', function: { name: randomText(random), arguments: randomText(random) } }] };
  return randomText(random); // a delta that is a string (Responses API style)
}

/** JSON text as servers write it: compact, Python-style spaced, or with non-ASCII escaped as \uXXXX. */
function serialise(value: unknown, style: number): string {
  if (style === 0) return JSON.stringify(value);
  if (style === 1) return JSON.stringify(value, null, 1).replace(/\n\s*/g, ' ');
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

describe('generatedBytes', () => {
  it('counts the text of OpenAI and Anthropic deltas, not their framing', () => {
    assert.equal(
      generatedBytes('{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"héllo"},"finish_reason":null}]}'),
      6,
    );
    assert.equal(generatedBytes('{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a \\"quoted\\" word"}}'), 15);
    assert.equal(
      generatedBytes('{"choices":[{"delta":{"content":"say \\"delta\\": 1"}},{"delta":{"content":"x"}}]}'),
      15,
      'two choices, and a delta key inside generated text is text',
    );
    assert.equal(generatedBytes('{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}'), 0);
    assert.equal(generatedBytes('[DONE]'), 0);
    assert.equal(generatedBytes('{"delta":{"text":"unterminated'), 12, 'a cut event counts what it holds');
    assert.equal(generatedBytes('{"choices":[{"delta":{"content":"🎉"}}]}'), 4);
    assert.equal(generatedBytes('{"choices":[{"delta":{"content":"\\ud83c\\udf89"}}]}'), 4, 'an escaped surrogate pair is the 4 bytes of its character');
  });

  it('equals a JSON.parse reference on 2,000 random events', () => {
    const random = seededRandom(15);
    for (let round = 0; round < 2000; round++) {
      const choices = 1 + Math.floor(random() * 3);
      const event =
        random() < 0.5
          ? {
              id: 'chatcmpl-x',
              object: 'chat.completion.chunk',
              choices: Array.from({ length: choices }, (_, index) => ({ index, delta: randomDelta(random), finish_reason: null })),
            }
          : { type: 'content_block_delta', index: 0, delta: randomDelta(random) };
      const data = serialise(event, Math.floor(random() * 3));
      assert.equal(generatedBytes(data), eventDeltaBytes(JSON.parse(data)), `round ${round}: ${data}`);
    }
  });
});
