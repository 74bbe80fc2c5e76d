// Micro-benchmark of the incremental SSE parser: MB/s on realistic OpenAI and Anthropic streams in network-sized chunks.
import { SseParser } from '../src/protocol/sse-parser.ts';

function openaiStream(tokens: number): string {
  const parts: string[] = [];
  for (let i = 0; i < tokens; i++) {
    parts.push(
      `data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" token${i} ünï"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n`,
    );
  }
  parts.push(
    'data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":200,"completion_tokens":80,"total_tokens":280}}\n\n',
  );
  parts.push('data: [DONE]\n\n');
  return parts.join('');
}

function anthropicStream(tokens: number): string {
  const parts: string[] = [
    'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"usage":{"input_tokens":140,"output_tokens":1}}}\n\n',
  ];
  for (let i = 0; i < tokens; i++) {
    parts.push(`event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token${i} ünï"}}\n\n`);
  }
  parts.push(
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":45}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
  );
  return parts.join('');
}

function chunk(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function run(label: string, chunks: Buffer[], totalBytes: number): void {
  let events = 0;
  for (let warm = 0; warm < 20; warm++) {
    const p = new SseParser();
    for (const c of chunks) events += p.push(c).length;
    events += p.end().length;
  }
  const rounds = Math.max(20, Math.ceil(200_000_000 / totalBytes));
  const start = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    const p = new SseParser();
    for (const c of chunks) events += p.push(c).length;
    events += p.end().length;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const mb = (totalBytes * rounds) / 1e6;
  console.log(`${label.padEnd(44)} ${(mb / seconds).toFixed(0).padStart(6)} MB/s  (${rounds} streams, ${events} events)`);
}

const openai = Buffer.from(openaiStream(500));
const anthropic = Buffer.from(anthropicStream(500));
for (const size of [64, 1024, 16384]) {
  run(`openai stream, ${size}-byte chunks`, chunk(openai, size), openai.length);
  run(`anthropic stream, ${size}-byte chunks`, chunk(anthropic, size), anthropic.length);
}
const oneEventPerChunk = openaiStream(500)
  .split(/(?<=\n\n)/)
  .map((s) => Buffer.from(s));
run('openai stream, one event per chunk', oneEventPerChunk, openai.length);
