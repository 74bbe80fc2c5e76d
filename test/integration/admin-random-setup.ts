// The hostile admin tests' set-up: seeded picks, UI calls that keep any answer, and checks of the governance dir and audit.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startHarness, type Harness } from '../helpers/harness.ts';

export const TOKEN = 'admin-random-token';
export const SEED = 20261129;
/** The agents of hostileHarness(). */
export const AGENTS = ['a', 'b', 'c'];

/** A tollgate with three agents (b with a budget) and an admin token. */
export function hostileHarness(): Promise<Harness> {
  return startHarness({ agents: { a: {}, b: { budget: { limit_usd: 5, window: '1h' } }, c: {} }, env: { CLLAMA_UI_TOKEN: TOKEN } });
}

export type Random = () => number;
/** One of `values`, drawn with `random`. */
export const pick = <T>(random: Random, values: readonly T[]): T => values[Math.floor(random() * values.length)];

/** A UI-port answer: its status, its text, and its body parsed (null when it is not JSON). */
export interface Answer {
  status: number;
  text: string;
  body: any;
}

/** A UI-port call with TOKEN as the bearer (`token`: another one, or null for none); redirects are not followed. */
export async function call(
  h: Harness,
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; token?: string | null } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${h.tollgate.uiUrl}${path}`, { method: init.method ?? 'GET', headers, body: init.body, redirect: 'manual' });
  const text = await response.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  return { status: response.status, text, body };
}

/** Never a 5xx; a 4xx under /api/ is `{"error":{"code","message"}}`. */
export function assertCoded(answer: Answer, what: string): void {
  assert.ok(answer.status < 500, `${answer.status} for ${what}: ${answer.text.slice(0, 300)}`);
  if (answer.status >= 400) {
    assert.equal(typeof answer.body?.error?.code, 'string', `a JSON error code for ${what}: ${answer.text.slice(0, 300)}`);
    assert.equal(typeof answer.body?.error?.message, 'string', `a JSON error message for ${what}`);
  }
}

/** Every file under `dir`, relative to it. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => relative(dir, path))
    .sort();
}

/** The governance tree holds only `<agent>/budget.json` files of known agents, each a complete JSON object (no temporary files). */
export function assertGovernanceClean(h: Harness, agents: readonly string[]): void {
  const dir = join(h.root, 'governance');
  for (const file of filesUnder(dir)) {
    const [agent, name, ...rest] = file.split('/');
    assert.ok(agents.includes(agent) && name === 'budget.json' && rest.length === 0, `unexpected file in the governance dir: ${file}`);
    const value = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    assert.ok(value && typeof value === 'object' && !Array.isArray(value), `${file} is a JSON object`);
  }
}

/** The agent's override file as JSON, or null when there is none. */
export function overrideOnDisk(h: Harness, agent: string): Record<string, unknown> | null {
  const file = join(h.root, 'governance', agent, 'budget.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
}

/** The agent's override_changed audit events, oldest first. */
export function overrideEvents(h: Harness, agent: string): Record<string, any>[] {
  return h.events.filter((event) => event.type === 'override_changed' && event.claw_id === agent);
}
