// The events the bus carries, one shape per `type`: emitters and subscribers are checked against them by the compiler.

/** The audit line's head: every event has these (null when unset). */
interface Head<T extends string> {
  type: T;
  /** ISO-8601 time the event happened; the bus stamps it when the emitter leaves it out. */
  ts?: string;
  claw_id: string | null;
  model: string | null;
  /** Intervention name (budget_exceeded, rate_limited, budget_check_unavailable, budget_alert, model_downgraded, ...) or null. */
  intervention: string | null;
}

/** Where a routed call went. */
export interface CallFields {
  request_id: string;
  path: string;
  provider: string;
  upstream_model: string;
  stream: boolean;
}

/** What a call was charged (pipeline/outcome-event.ts); metrics and cost totals count from these. */
export interface ChargeFields {
  tokens_in?: number;
  tokens_out?: number;
  cached_tokens?: number;
  cache_write_tokens?: number;
  /** The part of tokens_out spent reasoning, when the provider reported it (not added to tokens_out again). */
  reasoning_tokens?: number;
  usage_estimated?: true;
  cost_usd?: number;
  cost_micros?: number;
  cost_source?: string;
  pricing_status?: 'unpriced';
}

/** A limit and its standing (budget/policy/limit-fields.ts). */
export interface LimitFields {
  limit_id: string;
  scope: string;
  metric: string;
  window: string;
  limit: number;
  used: number | null;
  reserved: number | null;
  remaining: number | null;
}

/** A call was dispatched upstream. */
export interface RequestEvent extends Head<'request'>, CallFields {
  intervention: null;
}

/** A call's answer was relayed whole. */
export interface ResponseEvent extends Head<'response'>, CallFields, ChargeFields {
  status_code: number;
  latency_ms: number;
  upstream_request_id?: string;
}

/**
 * A call failed (answered by the proxy, or cut short after the upstream had it), or, as cllama does, a fail-open budget
 * check that could not run (`status_code` 0). Internal failures that are no call's outcome are `warning`s.
 */
export interface ErrorEvent extends Head<'error'>, Partial<CallFields>, ChargeFields {
  status_code: number;
  latency_ms?: number;
  upstream_request_id?: string;
  error: string;
  /** The error code (src/errors.ts). */
  code?: string;
  /** How a relayed answer ended when it did not complete (client_aborted, incomplete, ...). */
  outcome?: string;
}

/**
 * A token count (POST /v1/messages/count_tokens) forwarded to the provider: recorded, never billed nor counted against
 * a request limit (docs/routes.md). `input_tokens` is the count the provider answered.
 */
export interface TokenCountEvent extends Head<'token_count'>, CallFields {
  intervention: null;
  status_code: number;
  latency_ms: number;
  input_tokens?: number;
}

/** An internal failure (ledger, budget ticket, alert check, alert webhook): logged, no call's outcome. */
export interface WarningEvent extends Head<'warning'> {
  request_id?: string;
  /** What failed, as text. */
  error: string;
  /** The alert a failed webhook delivery dropped. */
  limit_id?: string;
  threshold?: number;
}

/** A budget rule acted on a call (refused, shaped, downgraded, or could not be checked). */
export interface InterventionEvent extends Head<'intervention'>, Partial<LimitFields>, InterventionDetail {
  intervention: string;
  request_id: string;
}

/** The fields an intervention carries besides its name. */
export interface InterventionDetail {
  behavior?: string;
  reason?: string;
  retry_after_ms?: number | null;
  from_model?: string;
  to_model?: string | null;
  downgrade_at?: number | null;
  unknown_cost?: 'block';
  effective_model?: string;
  /** Model policy: the agent's requested model, the provider and upstream model concerned (a skip, a clamp). */
  requested_model?: string;
  provider?: string;
  upstream_model?: string;
  /** A candidate skipped for its open circuit: when its cool-off ends (ISO). */
  circuit_until?: string;
}

/** The budget engine's decision on a call of an agent with a policy. */
export interface BudgetDecisionEvent extends Head<'budget_decision'>, Partial<LimitFields>, DecisionDetail {
  intervention: null;
  request_id: string;
  outcome: 'allow' | 'soft' | 'block' | 'unavailable';
  fail_mode?: 'open' | 'closed';
  behavior?: string;
  source?: string;
  source_kind?: string;
  field?: string;
}

/** The fields a decision adds after the deciding limit. */
export interface DecisionDetail {
  reason?: string;
  retry_after_ms?: number | null;
  estimate_usd_micros?: number;
  downgraded_to?: string | null;
}

/** A limit crossed one of its alert thresholds (once per threshold and window). */
export interface BudgetAlertEvent extends Head<'budget_alert'> {
  claw_id: string;
  model: string;
  intervention: 'budget_alert';
  alert_id: string;
  limit_id: string;
  scope: string;
  window: string;
  behavior: string;
  threshold: number;
  used_usd: number;
  limit_usd: number;
  used_micros: number;
  limit_micros: number;
  source: string;
  /** `forecast`: not a threshold reached but the limit projected to run out before its window resets (`exhausted_at`). */
  kind?: 'forecast';
  exhausted_at?: string;
  rate_usd_per_hour?: number;
}

/**
 * The loop breaker flagged a call (loop-breaker.ts): hashes only, never prompt text. `alert` marks the first flag of an
 * episode and each new level (what the webhook delivers); every flagged or refused call has its line.
 */
export interface LoopDetectedEvent extends Head<'loop_detected'> {
  claw_id: string;
  model: string;
  intervention: 'loop_detected';
  request_id: string;
  alert_id: string;
  alert: boolean;
  detector: string;
  fingerprint: string;
  count: number;
  first_at: string;
  last_at: string;
  action: string;
  refused: boolean;
  stopped_until: string | null;
}

/** An operator set or cleared an agent's budget override through the admin API. */
export interface OverrideChangedEvent extends Head<'override_changed'> {
  intervention: null;
  action: 'set' | 'cleared';
  file: string;
  /** Absent when a set override gave none. */
  reason?: string | null;
  set_by: string | null;
  expires_at: string | null;
  override: unknown;
  previous: unknown;
}

/** A policy file is broken (reported when it is written). */
export interface PolicyErrorEvent extends Head<'policy_error'> {
  file: string;
  error: string;
}

/**
 * A call moved to its next candidate (cllama's `failover`, same fields): `model` is what the agent asked for, the
 * provider/model pairs are the two candidates', `slot_index` the new candidate's place in the list (first switch: 1).
 */
export interface FailoverEvent extends Head<'failover'> {
  intervention: null;
  request_id: string;
  latency_ms?: number;
  reason: string;
  from_provider: string;
  to_provider: string;
  from_model: string;
  to_model: string;
  slot_index: number;
  /** What the failed attempt was charged (µ$; 0: released). */
  charged_micros?: number;
}

/** A candidate's circuit changed: `open` (skipped until `until`), `half_open` (one probe call let through), `closed`. */
export interface CircuitEvent extends Head<'circuit'> {
  intervention: null;
  provider: string;
  upstream_model: string;
  state: 'open' | 'half_open' | 'closed';
  /** Failures counted in the window when it opened. */
  failures?: number;
  /** ISO time the cool-off ends (open). */
  until?: string;
  request_id?: string;
}

/**
 * A provider key changed state (cllama's fields first: provider, key_id, action, reason, cooldown_until). cllama emits
 * only `dead` and `cooldown`; tollgate adds `revived` (a dead key that answered its re-check), `pool_cooling` (every key
 * of the provider cooling: key_id null, retry_after_ms set) and the operator's actions.
 */
export interface ProviderPoolEvent extends Head<'provider_pool'> {
  claw_id: null;
  model: null;
  intervention: null;
  provider: string;
  key_id: string | null;
  action: 'dead' | 'cooldown' | 'revived' | 'pool_cooling' | 'added' | 'activated' | 'disabled' | 'deleted' | 'provider_added';
  reason: string;
  cooldown_until?: string;
  status_code?: number;
  retry_after_ms?: number;
  /** What the cooldown's length came from (retry-after-ms, retry-after, x-ratelimit-reset, ..., default). */
  cooldown_source?: string;
  /** The key masked as cllama's UI shows it. */
  masked_key?: string;
  /** Another replica made the change (seen through the shared ledger): not counted again. */
  replica?: 'remote';
}

/** An event as emitted (the bus stamps `ts` when it is missing). */
export type EventDraft =
  | RequestEvent
  | ResponseEvent
  | ErrorEvent
  | TokenCountEvent
  | WarningEvent
  | InterventionEvent
  | BudgetDecisionEvent
  | BudgetAlertEvent
  | LoopDetectedEvent
  | OverrideChangedEvent
  | PolicyErrorEvent
  | FailoverEvent
  | CircuitEvent
  | ProviderPoolEvent;

export type EventType = EventDraft['type'];

type Stamped<E> = E extends unknown ? Readonly<E & { ts: string }> : never;

/** An event as subscribers get it: stamped, and not to be changed. Switch on `type` for its fields. */
export type ProxyEvent = Stamped<EventDraft>;

/** The delivered event of one type. */
export type EventOf<T extends EventType> = Extract<ProxyEvent, { type: T }>;
