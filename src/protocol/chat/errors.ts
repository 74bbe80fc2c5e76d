// The OpenAI error envelope: {"error":{"message","type","param","code"}} and the type/code each tollgate error maps to.
import type { ErrorCode } from '../../errors.ts';

/** type/code pairs an OpenAI client expects; budget codes keep cllama's names so existing agents match on them. */
const OPENAI_TYPES: Partial<Record<ErrorCode, { type: string; code: string }>> = {
  auth_missing: { type: 'invalid_request_error', code: 'invalid_api_key' },
  auth_invalid: { type: 'invalid_request_error', code: 'invalid_api_key' },
  budget_exceeded: { type: 'budget_exceeded', code: 'budget_exceeded' },
  rate_limited: { type: 'rate_limited', code: 'rate_limited' },
  unknown_cost_blocked: { type: 'budget_exceeded', code: 'unknown_cost_blocked' },
  loop_detected: { type: 'rate_limit_error', code: 'loop_detected' },
  budget_unavailable: { type: 'server_error', code: 'budget_unavailable' },
  capacity_exhausted: { type: 'server_error', code: 'capacity_exhausted' },
  agent_capacity_exhausted: { type: 'rate_limit_error', code: 'agent_capacity_exhausted' },
  too_many_connections: { type: 'server_error', code: 'too_many_connections' },
  upstream_unreachable: { type: 'server_error', code: 'upstream_unreachable' },
  upstream_timeout: { type: 'server_error', code: 'upstream_timeout' },
  upstream_response_too_large: { type: 'server_error', code: 'upstream_response_too_large' },
  provider_not_configured: { type: 'server_error', code: 'provider_not_configured' },
  responses_adapter_failed: { type: 'server_error', code: 'responses_adapter_failed' },
  model_policy_incompatible: { type: 'server_error', code: 'model_policy_incompatible' },
  circuit_open: { type: 'server_error', code: 'circuit_open' },
  provider_keys_cooling: { type: 'server_error', code: 'provider_keys_cooling' },
  provider_keys_unusable: { type: 'server_error', code: 'provider_keys_unusable' },
  internal: { type: 'server_error', code: 'internal' },
};

export function openAIErrorBody(input: { code: ErrorCode; message: string; extra?: Record<string, unknown>; param?: string }): Record<string, unknown> {
  const mapped = OPENAI_TYPES[input.code] ?? { type: 'invalid_request_error', code: input.code };
  return { ...input.extra, error: { message: input.message, type: mapped.type, param: input.param ?? null, code: mapped.code } };
}
