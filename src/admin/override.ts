// Governance overrides through the admin API: validate the body, write or clear the file atomically, audit the change.
import { z } from 'zod';
import type { Agent } from '../auth/agent.ts';
import { POLICY_FIELDS, type PolicyResult } from '../budget/policy/policy.ts';
import { PolicyValidationError } from '../budget/policy/store.ts';
import type { EventBus } from '../observability/events.ts';
import { isPlainObject, readJsonFile } from '../config/json-file.ts';
import { AdminError } from './http.ts';
import { parseRfc3339 } from '../http/rfc3339.ts';
import { KeyedQueue } from './keyed-queue.ts';

/** What the admin API needs of the PolicyStore (src/budget/policy/store.ts). */
export interface OverrideStore {
  effective(agent: Agent, now: number): PolicyResult;
  overrideProblems(agentId: string, policy: unknown): string[];
  previewOverride(agent: Agent, policy: unknown, now: number): PolicyResult;
  governanceFile(agentId: string): string | null;
  writeOverride(agentId: string, policy: unknown): Promise<void>;
  clearOverride(agentId: string): Promise<boolean>;
  reload(): Promise<void>;
}

const count = z.number().int().positive();
const REASON_REQUIRED = z.string().trim().min(1, 'reason is required: say why the override is set').max(500);
const SET_BY_OPTIONAL = z.string().trim().min(1).max(200).optional();
const REASON_OPTIONAL = z.string().trim().min(1).max(500).nullable().optional();
const optional = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

/** The body of PUT /api/agents/:id/override: governance budget fields (checked in depth by the policy store) plus who and why. */
export const OverrideBodySchema = z.strictObject({
  limit_usd: optional(z.number().positive()),
  max_requests: optional(count),
  max_input_tokens: optional(count),
  max_output_tokens: optional(count),
  max_total_tokens: optional(count),
  max_concurrent: optional(count),
  window: optional(z.string()),
  behavior: optional(z.string()),
  limits: optional(z.array(z.record(z.string(), z.unknown()))),
  shared: optional(z.array(z.string())),
  unknown_cost: optional(z.string()),
  fallback_rates: optional(z.strictObject({ input_per_mtok: z.number().nonnegative(), output_per_mtok: z.number().nonnegative() })),
  alerts: optional(z.array(z.number())),
  downgrade_to: optional(z.string()),
  downgrade_at: optional(z.number().positive()),
  cap_output_tokens: optional(z.boolean()),
  timezone: optional(z.string()),
  session: optional(z.record(z.string(), z.unknown())),
  loop: optional(z.record(z.string(), z.unknown())),
  forecast_alert: optional(z.boolean()),
  reason: REASON_REQUIRED,
  set_by: SET_BY_OPTIONAL,
  expires_at: optional(z.string().refine((text) => parseRfc3339(text) !== null, 'must be an RFC3339 time like 2026-03-08T00:00:00Z')),
});

export type OverrideBody = z.infer<typeof OverrideBodySchema>;

/** The optional body (or query) of DELETE /api/agents/:id/override: who and why, bounded as on PUT. */
const ClearBodySchema = z.strictObject({ reason: REASON_OPTIONAL, set_by: SET_BY_OPTIONAL.nullable() });

/** `reason` and `set_by` of a DELETE, from its JSON body, else its query. Throws invalid_request for a bad one. */
export function clearInput(body: unknown, params: URLSearchParams): { reason: string | null; setBy: string | null } {
  const fromQuery = { reason: params.get('reason') || undefined, set_by: params.get('set_by') || undefined };
  const parsed = ClearBodySchema.safeParse(body ?? {});
  const query = ClearBodySchema.safeParse(fromQuery);
  const issues = [...(parsed.success ? [] : parsed.error.issues), ...(query.success ? [] : query.error.issues)];
  if (!parsed.success || !query.success) {
    const problems = issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`);
    throw new AdminError('invalid_request', `invalid clear request: ${problems.join('; ')}`, { extra: { problems } });
  }
  return { reason: parsed.data.reason ?? query.data.reason ?? null, setBy: parsed.data.set_by ?? query.data.set_by ?? null };
}

/** The fields that make an override: every policy field but who, why and until when. */
const BUDGET_FIELDS = POLICY_FIELDS.filter((field) => field !== 'reason' && field !== 'set_by' && field !== 'expires_at');

export const DEFAULT_SET_BY = 'admin-api';

/** The file content to write: the body without nulls, `set_by` defaulted. Throws invalid_request for a bad body. */
/** A validated override as written to its file (the schema makes `reason`, `set_by` and `expires_at` strings). */
export type OverrideContent = Record<string, unknown> & { reason?: string; set_by: string; expires_at?: string };

export function overrideContent(body: unknown, now: number): OverrideContent {
  const parsed = OverrideBodySchema.safeParse(body ?? null);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`);
    throw new AdminError('invalid_request', `invalid override: ${problems.join('; ')}`, { extra: { problems } });
  }
  const data = parsed.data as Record<string, unknown>;
  if (!BUDGET_FIELDS.some((field) => data[field] !== undefined && data[field] !== null)) {
    throw new AdminError('invalid_request', `an override must set at least one budget field (${BUDGET_FIELDS.join(', ')})`);
  }
  const expiresAt = typeof data.expires_at === 'string' ? parseRfc3339(data.expires_at) : null;
  if (expiresAt !== null && expiresAt <= now) throw new AdminError('invalid_request', 'expires_at is in the past: the override would never apply');
  const content: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) if (value !== undefined && value !== null) content[key] = value;
  content.set_by ??= DEFAULT_SET_BY;
  return content as OverrideContent;
}

export interface OverrideDeps {
  readonly store: OverrideStore;
  readonly bus: EventBus;
  readonly now: () => number;
}

/**
 * Writes the override, unless the agent's merged policy would be unusable because of it (e.g. a limit without a
 * window anywhere): that is found on a dry run, before the file is written, and returned as invalid_override, so no
 * request ever sees the unusable policy.
 */
export function setOverride(deps: OverrideDeps, input: { agent: Agent; body: unknown }): Promise<{ file: string; content: OverrideContent }> {
  return serialized(deps.store, input.agent.id, () => writeValidated(deps, input));
}

async function writeValidated(deps: OverrideDeps, input: { agent: Agent; body: unknown }): Promise<{ file: string; content: OverrideContent }> {
  const { store, bus } = deps;
  const { agent } = input;
  const file = requireFile(store, agent.id);
  const content = overrideContent(input.body, deps.now());
  const invalid = store.overrideProblems(agent.id, content);
  if (invalid.length > 0) {
    throw new AdminError('invalid_override', `the override is not a valid budget policy: ${invalid.join('; ')}`, { extra: { problems: invalid } });
  }
  const preview = store.previewOverride(agent, content, deps.now());
  if (preview.kind === 'unavailable') {
    const ours = preview.problems.filter((problem) => problem.startsWith(`${file}: `));
    if (ours.length > 0) {
      const problems = ours.map((problem) => problem.slice(file.length + 2));
      throw new AdminError('invalid_override', `the override would make the agent's budget unusable: ${problems.join('; ')}`, { extra: { problems } });
    }
  }
  const previous = await previousOverride(file);
  try {
    await store.writeOverride(agent.id, content);
  } catch (error) {
    if (error instanceof PolicyValidationError) {
      throw new AdminError('invalid_override', `the override is not a valid budget policy: ${error.problems.join('; ')}`, {
        extra: { problems: error.problems },
      });
    }
    throw error;
  }
  bus.emit({
    type: 'override_changed',
    claw_id: agent.id,
    model: null,
    intervention: null,
    action: 'set',
    file,
    reason: content.reason,
    set_by: content.set_by,
    expires_at: content.expires_at ?? null,
    override: content,
    previous,
  });
  return { file, content };
}

/** Removes the override; emits an event only when there was one. */
export function clearOverride(
  deps: OverrideDeps,
  input: { agent: Agent; reason: string | null; setBy: string | null },
): Promise<{ file: string; cleared: boolean }> {
  return serialized(deps.store, input.agent.id, () => removeFile(deps, input));
}

async function removeFile(
  deps: OverrideDeps,
  input: { agent: Agent; reason: string | null; setBy: string | null },
): Promise<{ file: string; cleared: boolean }> {
  const file = requireFile(deps.store, input.agent.id);
  const previous = await previousOverride(file);
  const cleared = await deps.store.clearOverride(input.agent.id);
  if (cleared) {
    deps.bus.emit({
      type: 'override_changed',
      claw_id: input.agent.id,
      model: null,
      intervention: null,
      action: 'cleared',
      file,
      reason: input.reason,
      set_by: input.setBy ?? DEFAULT_SET_BY,
      expires_at: null,
      override: null,
      previous,
    });
  }
  return { file, cleared };
}

/** The governance file as written, for the detail view (read as the policy store reads it: bounded, never blocking). */
export async function readOverrideFile(store: OverrideStore, agentId: string): Promise<Record<string, unknown>> {
  const file = store.governanceFile(agentId);
  if (!file) return { file: null, present: false, content: null };
  const read = await readJsonFile(file);
  if (read.kind === 'missing') return { file, present: false, content: null };
  if (read.kind === 'error') return { file, present: true, content: null, error: read.problem };
  return isPlainObject(read.value) ? { file, present: true, content: read.value } : { file, present: true, content: null, error: 'not a JSON object' };
}

/**
 * Changes of one agent's override, one at a time per store (every UI server over the same store shares the queue):
 * each change reads the file it replaces, writes, reloads and emits its event before the next starts, so `previous` in
 * the audit events chains exactly and an answer never describes a file another request has already replaced.
 */
const overrideWrites = new WeakMap<OverrideStore, KeyedQueue>();

function serialized<T>(store: OverrideStore, agentId: string, task: () => Promise<T>): Promise<T> {
  let queue = overrideWrites.get(store);
  if (!queue) overrideWrites.set(store, (queue = new KeyedQueue()));
  return queue.run(agentId, task);
}

function requireFile(store: OverrideStore, agentId: string): string {
  const file = store.governanceFile(agentId);
  if (!file) throw new AdminError('governance_not_configured', 'CLAW_GOVERNANCE_DIR is not set: there is nowhere to write an override');
  return file;
}

/** The override a change replaces, for its audit event: null when there was none, or none that could be read. */
async function previousOverride(file: string): Promise<Record<string, unknown> | null> {
  const read = await readJsonFile(file);
  return read.kind === 'ok' && isPlainObject(read.value) ? read.value : null;
}
