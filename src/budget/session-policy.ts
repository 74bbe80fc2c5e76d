// Session (run) budgets: the policy's `session` block, the session id an agent sends in a header, and its ledger scope.
import type { Behavior, LimitAmounts } from './policy/fields.ts';

/** The header a request names its session with, unless the policy's `session.header` names another. */
export const DEFAULT_SESSION_HEADER = 'x-tollgate-session';
/** Idle time after which a session's usage is forgotten, unless the policy's `session.idle_ttl` says otherwise. */
export const DEFAULT_SESSION_IDLE = { text: '1h', ms: 3_600_000 } as const;
/**
 * A session id as an agent may send it: 1 to 128 of letters, digits and `. _ : @ + = -` (UUIDs, `run_42`,
 * `task:7/step` is refused for its slash). It only ever becomes part of a ledger scope name, never a path.
 */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9._:@+=-]{1,128}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
export const SESSION_FIELDS = [
  'header',
  'limit_usd',
  'max_requests',
  'max_input_tokens',
  'max_output_tokens',
  'max_total_tokens',
  'idle_ttl',
  'behavior',
] as const;

export interface SessionPolicy {
  /** Lower-case header name. */
  readonly header: string;
  readonly amounts: LimitAmounts;
  readonly idleMs: number;
  readonly idleText: string;
  /** Absent: the policy's top-level behaviour. */
  readonly behavior?: Behavior;
}

/** How the policy fields' readers are passed in (no import cycle with policy-fields.ts). */
export interface SessionReaders {
  readonly usd: (raw: unknown, field: string, problems: string[]) => number | undefined;
  readonly count: (raw: unknown, field: string, problems: string[]) => number | undefined;
  readonly behavior: (raw: unknown, field: string, problems: string[]) => Behavior | undefined;
  readonly duration: (text: string) => number | null;
  readonly maxIdleMs: number;
}

/** Reads a `session` block; every problem is pushed as `field: message`. */
export function readSessionBlock(input: { raw: unknown; field: string; problems: string[]; readers: SessionReaders }): SessionPolicy | undefined {
  const { raw, field, problems, readers } = input;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push(`${field}: must be an object like { "limit_usd": 2, "idle_ttl": "1h" }`);
    return undefined;
  }
  const block = raw as Record<string, unknown>;
  const before = problems.length;
  for (const key of Object.keys(block)) {
    if (!(SESSION_FIELDS as readonly string[]).includes(key))
      problems.push(`${field}.${key}: unknown field in a session block (allowed: ${SESSION_FIELDS.join(', ')})`);
  }
  let header = DEFAULT_SESSION_HEADER;
  if (block.header !== undefined && block.header !== null) {
    if (typeof block.header !== 'string' || !HEADER_NAME.test(block.header.trim()))
      problems.push(`${field}.header: must be an HTTP header name like "x-run-id"`);
    else header = block.header.trim().toLowerCase();
  }
  const amounts: Record<string, number> = {};
  for (const key of ['limit_usd', 'max_requests', 'max_input_tokens', 'max_output_tokens', 'max_total_tokens'] as const) {
    if (block[key] === undefined || block[key] === null) continue;
    const value = key === 'limit_usd' ? readers.usd(block[key], `${field}.${key}`, problems) : readers.count(block[key], `${field}.${key}`, problems);
    if (value !== undefined) amounts[key] = value;
  }
  if (Object.keys(amounts).length === 0 && problems.length === before)
    problems.push(`${field}: must set at least one of limit_usd, max_requests, max_input_tokens, max_output_tokens, max_total_tokens`);
  let idle: { text: string; ms: number } = DEFAULT_SESSION_IDLE;
  if (block.idle_ttl !== undefined && block.idle_ttl !== null) {
    const ms = typeof block.idle_ttl === 'string' ? readers.duration(block.idle_ttl) : null;
    if (ms === null) problems.push(`${field}.idle_ttl: must be a positive duration like 30m or 1h`);
    else if (ms > readers.maxIdleMs) problems.push(`${field}.idle_ttl: must be at most 35d`);
    else idle = { text: (block.idle_ttl as string).trim(), ms };
  }
  const behavior = block.behavior === undefined || block.behavior === null ? undefined : readers.behavior(block.behavior, `${field}.behavior`, problems);
  if (problems.length > before) return undefined;
  return { header, amounts, idleMs: idle.ms, idleText: idle.text, ...(behavior ? { behavior } : {}) };
}

/** The ledger scope of one session of an agent: its idle time is in the name, so every ledger expires it alike. */
export function sessionScope(input: { agentId: string; idleMs: number; sessionId: string }): string {
  return `session:${input.idleMs}:${input.agentId}:${input.sessionId}`;
}

/**
 * The session id a request names in `header` (first value, trimmed): null when absent or blank, `{ invalid }` when it
 * is not a plain id (too long, or a character outside the allowed set).
 */
export function readSessionId(
  headers: Readonly<Record<string, string | string[] | undefined>> | undefined,
  header: string,
): string | null | { readonly invalid: string } {
  const raw = headers?.[header];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (!value) return null;
  if (SESSION_ID_PATTERN.test(value)) return value;
  return { invalid: `the ${header} header must be 1 to 128 of letters, digits and . _ : @ + = - (got ${value.length} characters)` };
}
