// The identity tests' set-up: a call with exactly the given headers, reading tollgate's error envelopes and a call's audit event.
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { Harness } from '../helpers/harness.ts';

export const SEED = Number(process.env.IDENTITY_SEED ?? 20260611);
export const CHAT = '/v1/chat/completions';
export const MESSAGES = '/v1/messages';

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** One call with exactly these headers (node:http, so odd but legal header bytes go out as they are). */
export function call(input: { url: string; path: string; headers: Record<string, string>; body?: string }): Promise<Answer> {
  const body =
    input.body ??
    JSON.stringify(
      input.path === CHAT
        ? { model: 'openai/gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }
        : { model: 'claude-sonnet-4-20250514', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
    );
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${input.url}${input.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...input.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The error code of a tollgate error in the route's own envelope (asserted), or null for an answer that is not one. */
export function errorCode(answer: Answer, path: string): string | null {
  if (answer.status < 400) return null;
  const json = JSON.parse(answer.text) as Record<string, any>;
  if (path === MESSAGES) {
    assert.equal(json.type, 'error', `anthropic envelope on ${path}: ${answer.text}`);
    return json.error.code;
  }
  assert.equal(typeof json.error?.message, 'string', `openai envelope on ${path}: ${answer.text}`);
  return json.error.code;
}

/** Which 401 it is, read from the envelope of the route (the OpenAI one says `invalid_api_key` for both, as OpenAI does). */
export function authError(answer: Answer, path: string): 'auth_missing' | 'auth_invalid' | string {
  const code = errorCode(answer, path);
  if (path === MESSAGES) return String(code);
  assert.equal(code, 'invalid_api_key', answer.text);
  const message = (JSON.parse(answer.text) as { error: { message: string } }).error.message;
  if (message === 'invalid bearer token') return 'auth_missing';
  return message === 'invalid agent secret' || message === 'agent context not found' ? 'auth_invalid' : message;
}

/** One of `items`, drawn with `random`. */
export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Fails instead of waiting for ever on a promise that hangs (a start-up or a reload stuck on a FIFO). */
export async function within<T>(promise: Promise<T>, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${label} hung`)), 20_000)));
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** The audit event of a relayed call, by tollgate's id of it. */
export function eventOf(h: Harness, answer: Answer): Record<string, unknown> | undefined {
  const id = answer.headers['x-tollgate-request-id'];
  return h.events.find((event) => event.request_id === id && (event.type === 'response' || event.type === 'request'));
}
