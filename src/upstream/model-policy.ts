// cllama's model_policy, read and applied: allowed refs, the default, the failover order, a requested model resolved to one.
import { collapseModelName } from './model-name.ts';

export interface AllowedModel {
  readonly slot: string;
  readonly ref: string;
}

export interface ModelPolicy {
  /** As written ('' when absent). cllama never reads it; tollgate reads `reject` (refuse a disallowed model: 400). */
  readonly mode: string;
  readonly allowed: readonly AllowedModel[];
  /** The file it was read from (metadata.json, or a governance file). */
  readonly file: string;
}

export type ParsedModelPolicy =
  | { readonly kind: 'none' }
  | { readonly kind: 'policy'; readonly policy: ModelPolicy }
  /** Wrongly typed (cllama: the agent context fails to load, every call refused): `field: message` lines. */
  | { readonly kind: 'invalid'; readonly file: string; readonly problems: readonly string[] };

/** How a requested model was changed into an allowed ref: cllama's intervention names. */
export type ResolutionReason = 'missing' | 'bare_model_normalized' | 'provider_normalized' | 'ambiguous_clamped' | 'disallowed_clamped';

export interface Resolution {
  readonly chosenRef: string;
  /** Null when the request named an allowed ref exactly. */
  readonly reason: ResolutionReason | null;
}

/**
 * A `model_policy` value as written (JSON-typed as cllama's Go types are: `mode` a string, `allowed` an array of
 * `{slot, ref}` strings; `null` stands for absent). `prefix` names the field in problems (`model_policy.` in metadata).
 */
export function parseModelPolicy(input: { raw: unknown; file: string; prefix?: string }): ParsedModelPolicy {
  const { raw, file } = input;
  const prefix = input.prefix ?? '';
  if (raw === undefined || raw === null) return { kind: 'none' };
  const problems: string[] = [];
  if (typeof raw !== 'object' || Array.isArray(raw)) return { kind: 'invalid', file, problems: [`${prefix || 'model policy'}: must be a JSON object`] };
  const fields = raw as Record<string, unknown>;
  const mode = fields.mode ?? '';
  if (typeof mode !== 'string') problems.push(`${prefix}mode: must be a string`);
  const allowed: AllowedModel[] = [];
  const list = fields.allowed ?? [];
  if (!Array.isArray(list)) problems.push(`${prefix}allowed: must be an array of {"slot", "ref"}`);
  else {
    list.forEach((entry: unknown, index) => {
      const field = `${prefix}allowed[${index}]`;
      if (entry === null) return; // Go decodes a null element as the zero value: no ref, ignored
      if (typeof entry !== 'object' || Array.isArray(entry)) {
        problems.push(`${field}: must be an object {"slot", "ref"}`);
        return;
      }
      const { slot = '', ref = '' } = entry as Record<string, unknown>;
      if (typeof slot !== 'string' && slot !== null) problems.push(`${field}.slot: must be a string`);
      if (typeof ref !== 'string' && ref !== null) problems.push(`${field}.ref: must be a string`);
      allowed.push({ slot: typeof slot === 'string' ? slot : '', ref: typeof ref === 'string' ? ref : '' });
    });
  }
  if (problems.length > 0) return { kind: 'invalid', file, problems };
  return { kind: 'policy', policy: { mode: typeof mode === 'string' ? mode : '', allowed, file } };
}

/** cllama: a policy is in force when `allowed` has at least one entry (whatever its refs). */
export function isActive(policy: ModelPolicy | null | undefined): policy is ModelPolicy {
  return policy !== null && policy !== undefined && policy.allowed.length > 0;
}

/** Whether `mode` asks a disallowed model to be refused instead of clamped (tollgate's opt-in). */
export function rejects(policy: ModelPolicy): boolean {
  return policy.mode.trim().toLowerCase() === 'reject';
}

/** A ref as compared: trimmed, slashes collapsed (tollgate's normal form of a model name, upstream/model-name.ts). */
function cleanRef(ref: string): string {
  return collapseModelName(ref);
}

/** Trimmed non-empty refs, de-duplicated, in declaration order. */
export function allowedRefs(policy: ModelPolicy): string[] {
  const out: string[] = [];
  for (const entry of policy.allowed) {
    const ref = cleanRef(entry.ref);
    if (ref && !out.includes(ref)) out.push(ref);
  }
  return out;
}

/** The first `primary` slot (any case) with a ref, else the first ref; '' when no entry has one. */
export function defaultRef(policy: ModelPolicy): string {
  for (const entry of policy.allowed) {
    if (isSlot(entry, 'primary') && cleanRef(entry.ref)) return cleanRef(entry.ref);
  }
  for (const entry of policy.allowed) if (cleanRef(entry.ref)) return cleanRef(entry.ref);
  return '';
}

/**
 * The failover order: the first `primary` entry (none when its ref is empty), then every `fallback` ref in order,
 * de-duplicated. Other slots are allowed but never failed over to.
 */
export function failoverRefs(policy: ModelPolicy): string[] {
  const out: string[] = [];
  const primary = policy.allowed.find((entry) => isSlot(entry, 'primary'));
  if (primary && cleanRef(primary.ref)) out.push(cleanRef(primary.ref));
  for (const entry of policy.allowed) {
    const ref = cleanRef(entry.ref);
    if (isSlot(entry, 'fallback') && ref && !out.includes(ref)) out.push(ref);
  }
  return out;
}

/** The refs tried in order: the chosen one then the failover list after it (or, chosen outside it, the whole list). */
export function candidateRefs(policy: ModelPolicy, chosenRef: string): string[] {
  if (!chosenRef.trim()) return [];
  const failover = failoverRefs(policy);
  const at = failover.indexOf(chosenRef);
  if (at >= 0) return failover.slice(at);
  return [chosenRef, ...failover.filter((ref) => ref !== chosenRef)];
}

/**
 * cllama's `policy_failover_unreachable`: the policy names more than one model, but this request can try only one
 * (the extra ones only in non-failover slots, or the chosen ref is the last of the failover list).
 */
export function failoverUnreachable(policy: ModelPolicy, candidates: readonly string[]): boolean {
  return allowedRefs(policy).length > 1 && candidates.length === 1;
}

/**
 * The allowed ref a requested model resolves to. `requested` is the normalized model string ('' when missing).
 * `normalizedRef` (chat route only) maps a prefixed model to where it routes (`provider/upstream-model`, after
 * OpenRouter's bridge), or null when it does not route; on `/v1/messages` it is absent (no provider normalization).
 */
export function resolveRequested(input: { policy: ModelPolicy; requested: string; normalizedRef?: (ref: string) => string | null }): Resolution {
  const { policy, normalizedRef } = input;
  const requested = input.requested.trim();
  const fallback = defaultRef(policy);
  if (!fallback) return { chosenRef: requested, reason: null }; // an active policy without any ref: cllama lets it through
  if (!requested) return { chosenRef: fallback, reason: 'missing' };
  const refs = allowedRefs(policy);
  if (refs.includes(requested)) return { chosenRef: requested, reason: null };
  if (!normalizedRef || !requested.includes('/')) {
    const matches = refs.filter((ref) => bareAliases(ref).includes(requested));
    if (matches.length === 1) return { chosenRef: matches[0], reason: 'bare_model_normalized' };
    return { chosenRef: fallback, reason: matches.length > 1 ? 'ambiguous_clamped' : 'disallowed_clamped' };
  }
  const key = normalizedRef(requested);
  const matches = key === null ? [] : refs.filter((ref) => normalizedRef(ref) === key);
  if (matches.length === 1) return { chosenRef: matches[0], reason: matches[0] === requested ? null : 'provider_normalized' };
  return { chosenRef: fallback, reason: matches.length > 1 ? 'ambiguous_clamped' : 'disallowed_clamped' };
}

/** Whether a resolution refused the model the agent named (what `"mode": "reject"` answers 400 to). */
export function isDisallowed(reason: ResolutionReason | null): boolean {
  return reason === 'ambiguous_clamped' || reason === 'disallowed_clamped';
}

/** `openai/gpt-4o` → [`gpt-4o`]; `openrouter/anthropic/claude-x` → [`anthropic/claude-x`, `claude-x`]. */
function bareAliases(ref: string): string[] {
  const slash = ref.indexOf('/');
  if (slash <= 0) return [];
  const model = ref.slice(slash + 1).trim();
  if (!model) return [];
  const last = model.lastIndexOf('/');
  return last >= 0 && last + 1 < model.length ? [model, model.slice(last + 1)] : [model];
}

function isSlot(entry: AllowedModel, slot: string): boolean {
  return entry.slot.trim().toLowerCase() === slot;
}
