// The loop breaker's settings: documented defaults (on, alert only), and the policy's `loop` block that changes them.

export type LoopAction = 'alert' | 'rate_limit' | 'hard_stop';
const ACTIONS: readonly LoopAction[] = ['alert', 'rate_limit', 'hard_stop'];
const LOOP_FIELDS = ['enabled', 'same_request', 'within', 'same_tool_call', 'velocity_multiple', 'velocity_min_rpm', 'action', 'escalate_after'] as const;

export interface LoopSettings {
  readonly enabled: boolean;
  /** The same request fingerprint this many times within `withinMs` is a loop. */
  readonly sameRequest: number;
  readonly withinMs: number;
  readonly within: string;
  /** The same tool call (name and arguments) this many times in a row is a loop. */
  readonly sameToolCall: number;
  /** Requests in the last minute above this multiple of the agent's own rate (the 10 minutes before) flag; 0: off. */
  readonly velocityMultiple: number;
  /** ...and above this many a minute (an agent waking from idle is not a spike below it). */
  readonly velocityMinRpm: number;
  /** How far the escalation goes: alert only (default), then rate_limit, then hard_stop. */
  readonly action: LoopAction;
  /** Flagged calls at each level before the next one. */
  readonly escalateAfter: number;
}

/** On by default, alert only: 20 identical calls in 10 minutes, or 20 identical tool calls in a row, are flagged. */
export const DEFAULT_LOOP: LoopSettings = {
  enabled: true,
  sameRequest: 20,
  withinMs: 600_000,
  within: '10m',
  sameToolCall: 20,
  velocityMultiple: 10,
  velocityMinRpm: 60,
  action: 'alert',
  escalateAfter: 3,
};

/** Reads a `loop` block over the defaults; every problem is pushed as `field: message`. */
export function readLoopBlock(input: { raw: unknown; field: string; problems: string[]; duration: (text: string) => number | null }): LoopSettings | undefined {
  const { raw, field, problems } = input;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push(`${field}: must be an object like { "same_tool_call": 5, "action": "hard_stop" }`);
    return undefined;
  }
  const block = raw as Record<string, unknown>;
  const before = problems.length;
  for (const key of Object.keys(block)) {
    if (!(LOOP_FIELDS as readonly string[]).includes(key)) problems.push(`${field}.${key}: unknown field in a loop block (allowed: ${LOOP_FIELDS.join(', ')})`);
  }
  const whole = (key: string, min: number, max: number, fallback: number): number => {
    const value = block[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${field}.${key}: must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  let enabled = DEFAULT_LOOP.enabled;
  if (block.enabled !== undefined && block.enabled !== null) {
    if (typeof block.enabled === 'boolean') enabled = block.enabled;
    else problems.push(`${field}.enabled: must be true or false`);
  }
  let within = { text: DEFAULT_LOOP.within, ms: DEFAULT_LOOP.withinMs };
  if (block.within !== undefined && block.within !== null) {
    const ms = typeof block.within === 'string' ? input.duration(block.within) : null;
    if (ms === null || ms > 86_400_000) problems.push(`${field}.within: must be a positive duration up to 1d like 10m`);
    else within = { text: (block.within as string).trim(), ms };
  }
  let action = DEFAULT_LOOP.action;
  if (block.action !== undefined && block.action !== null) {
    const text = typeof block.action === 'string' ? block.action.trim().toLowerCase() : '';
    if ((ACTIONS as readonly string[]).includes(text)) action = text as LoopAction;
    else problems.push(`${field}.action: must be one of ${ACTIONS.join(', ')}`);
  }
  const settings: LoopSettings = {
    enabled,
    sameRequest: whole('same_request', 2, 200, DEFAULT_LOOP.sameRequest),
    withinMs: within.ms,
    within: within.text,
    sameToolCall: whole('same_tool_call', 2, 1000, DEFAULT_LOOP.sameToolCall),
    velocityMultiple: whole('velocity_multiple', 0, 1000, DEFAULT_LOOP.velocityMultiple),
    velocityMinRpm: whole('velocity_min_rpm', 1, 1_000_000, DEFAULT_LOOP.velocityMinRpm),
    action,
    escalateAfter: whole('escalate_after', 1, 1000, DEFAULT_LOOP.escalateAfter),
  };
  return problems.length > before ? undefined : settings;
}
