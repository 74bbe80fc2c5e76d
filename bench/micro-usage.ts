// Micro-benchmark of stream usage collection and generated-text counting: ns per event for OpenAI and Anthropic streams, against parsing every chunk.
import { SseParser, type SseEvent } from '../src/protocol/sse-parser.ts';
import { OpenAIStreamUsage } from '../src/protocol/chat/stream-usage.ts';
import { AnthropicStreamUsage } from '../src/protocol/messages/stream-usage.ts';
import { generatedBytes } from '../src/stream/generated-bytes.ts';

function openaiEvents(tokens: number): SseEvent[] {
  const parts: string[] = [];
  for (let i = 0; i < tokens; i++) {
    parts.push(
      `data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" token${i}"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n`,
    );
  }
  parts.push(
    'data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":200,"completion_tokens":80,"total_tokens":280}}\n\ndata: [DONE]\n\n',
  );
  const parser = new SseParser();
  return [...parser.push(parts.join('')), ...parser.end()];
}

function anthropicEvents(tokens: number): SseEvent[] {
  const parts = [
    'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"claude-sonnet-4-20250514","content":[],"usage":{"input_tokens":140,"output_tokens":1}}}\n\n',
  ];
  for (let i = 0; i < tokens; i++)
    parts.push(`event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token${i}"}}\n\n`);
  parts.push(
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":45}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
  );
  const parser = new SseParser();
  return [...parser.push(parts.join('')), ...parser.end()];
}

function measure(label: string, events: SseEvent[], once: (events: SseEvent[]) => void): void {
  for (let i = 0; i < 200; i++) once(events);
  const rounds = 2000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) once(events);
  const ns = Number(process.hrtime.bigint() - start) / (rounds * events.length);
  console.log(`${label.padEnd(52)} ${ns.toFixed(1).padStart(7)} ns/event`);
}

let sink = 0;
const openai = openaiEvents(500);
const anthropic = anthropicEvents(500);
measure('OpenAIStreamUsage.onEvent + isUsageOnlyChunk', openai, (events) => {
  const meter = new OpenAIStreamUsage();
  for (const e of events) {
    meter.onEvent(e);
    if (meter.isUsageOnlyChunk(e)) sink++;
  }
  sink += meter.usage?.outputTokens ?? 0;
});
measure('baseline: JSON.parse every OpenAI chunk', openai, (events) => {
  for (const e of events) if (e.data !== '[DONE]') sink += JSON.parse(e.data) ? 1 : 0;
});
measure('AnthropicStreamUsage.onEvent', anthropic, (events) => {
  const meter = new AnthropicStreamUsage();
  for (const e of events) meter.onEvent(e);
  sink += meter.usage?.outputTokens ?? 0;
});
measure('baseline: JSON.parse every Anthropic event', anthropic, (events) => {
  for (const e of events) sink += JSON.parse(e.data) ? 1 : 0;
});
measure('generatedBytes, every OpenAI chunk', openai, (events) => {
  for (const e of events) sink += generatedBytes(e.data);
});
measure('generatedBytes, every Anthropic event', anthropic, (events) => {
  for (const e of events) sink += generatedBytes(e.data);
});
if (sink === 42) console.log('');
