// Micro-benchmark of the provider-key masker: ms per MB on prose JSON, SSE streams in network-sized chunks and key-alphabet-dense data.
import { KeyScanner, KeyWindows, maskRuns } from '../src/upstream/key-windows.ts';

const KEYS = ['sk-proj-Zq81xLmN0pQr7TuVwXyZ0123456789abcdefGHIJKLmnopQRSTuvwx', 'sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfGhIjKl'];
const windows = KeyWindows.of(KEYS)!;

/** A chat answer's JSON: English prose, words under 12 letters, escapes and punctuation. */
function proseJson(bytes: number): Buffer {
  const words = [
    'the',
    'quick',
    'brown',
    'fox',
    'jumps',
    'over',
    'lazy',
    'dogs',
    'tollgate',
    'budget',
    'stream',
    'answer',
    'ünïcode',
    '\\n',
    '\\"quoted\\"',
    '42,',
    'provider',
  ];
  const parts: string[] = ['{"id":"chatcmpl-abc123","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"'];
  let length = parts[0].length;
  for (let i = 0; length < bytes; i++) {
    const word = `${words[(i * 7) % words.length]} `;
    parts.push(word);
    length += word.length;
  }
  parts.push('"},"finish_reason":"stop"}]}');
  return Buffer.from(parts.join(''));
}

function sseStream(events: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < events; i++) {
    parts.push(
      `data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":" token${i} ünï"},"finish_reason":null}]}\n\n`,
    );
  }
  return Buffer.from(parts.join(''));
}

/** Worst case: one endless run of characters every key holds (base64-like data, an embedded image), with no key in it. */
function denseRun(bytes: number): Buffer {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const out = Buffer.alloc(bytes);
  let state = 7;
  for (let i = 0; i < bytes; i++) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    out[i] = alphabet.charCodeAt(state % alphabet.length);
  }
  return out;
}

function chunks(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function time(label: string, bytes: number, once: () => void): void {
  for (let warm = 0; warm < 5; warm++) once();
  const rounds = Math.max(5, Math.ceil(100_000_000 / bytes));
  const start = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) once();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const mb = (bytes * rounds) / 1e6;
  console.log(`${label.padEnd(52)} ${((seconds * 1000) / mb).toFixed(2).padStart(7)} ms/MB  ${(mb / seconds).toFixed(0).padStart(6)} MB/s`);
}

const prose = proseJson(1 << 20);
time('whole JSON answer, prose (1 MiB)', prose.length, () => maskRuns(windows, prose));
const withKey = Buffer.concat([prose.subarray(0, 500_000), Buffer.from(` ${KEYS[0].toLowerCase()} `), prose.subarray(500_000)]);
time('whole JSON answer, prose with one echoed key', withKey.length, () => maskRuns(windows, withKey));
const dense = denseRun(1 << 20);
time('whole body, one 1 MiB run of key characters', dense.length, () => maskRuns(windows, dense));
const sse = sseStream(6000);
for (const size of [64, 1024, 16384]) {
  const pieces = chunks(sse, size);
  time(`SSE stream, ${size}-byte chunks`, sse.length, () => {
    const scanner = new KeyScanner(windows);
    for (const piece of pieces) scanner.push(piece);
    scanner.end();
  });
}
const densePieces = chunks(dense, 16384);
time('dense run streamed in 16 KiB chunks', dense.length, () => {
  const scanner = new KeyScanner(windows);
  for (const piece of densePieces) scanner.push(piece);
  scanner.end();
});
/** The old exact-match search (one Buffer.indexOf per key), for comparison. */
const keyBytes = KEYS.map((key) => Buffer.from(key));
time('(before: exact indexOf per key, prose)', prose.length, () => {
  for (const key of keyBytes) prose.indexOf(key);
});
