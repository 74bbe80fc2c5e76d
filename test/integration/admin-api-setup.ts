// The admin API tests' set-up: a harness with its UI server per test (closed after it), a chat call, and authorised API calls.
import { after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';
import { startUi, type UiFixture } from '../helpers/ui-server.ts';

export const TOKEN = 'ui-secret-token';

/**
 * Registers, in the calling describe, the hooks that close each test's harness and UI server; returns `open`, which
 * starts them with CLLAMA_UI_TOKEN set to TOKEN (unless `options.env` sets it).
 */
export function adminApiFixture(): (options?: HarnessOptions) => Promise<{ h: Harness; ui: UiFixture }> {
  let h: Harness | undefined;
  let ui: UiFixture | undefined;
  const close = async () => {
    await ui?.close();
    await h?.close();
    ui = undefined;
    h = undefined;
  };
  afterEach(close);
  after(close);
  return async (options = {}) => {
    h = await startHarness({ ...options, env: { CLLAMA_UI_TOKEN: TOKEN, ...options.env } });
    ui = await startUi(h);
    return { h, ui };
  };
}

/** A chat completion of agent `agent` through the proxy (openai/gpt-4o, max_tokens 100 unless `body` says otherwise). */
export async function chat(h: Harness, agent: string, body: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.token(agent)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100, ...body }),
  });
}

/** A call to the UI port with TOKEN as the bearer (`token`: another one, or null for none); redirects are not followed. */
export function api(ui: UiFixture, path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  return fetch(`${ui.url}${path}`, { ...init, headers, redirect: 'manual' });
}

/** The answer's body as JSON (untyped: the tests read it field by field). */
export async function json(response: Response): Promise<any> {
  return response.json();
}
/** Polls `check` every 10 ms; fails after `attempts` tries. */
export async function waitUntil(check: () => boolean, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (check()) return;
    await sleep(10);
  }
  assert.fail('condition not reached');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
