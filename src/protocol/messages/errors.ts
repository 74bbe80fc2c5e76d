// The Anthropic error envelope: {"type":"error","error":{"type","message"},"request_id"} with the type Anthropic uses per status.
import type { ErrorCode } from '../../errors.ts';

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  408: 'timeout_error',
  413: 'request_too_large',
  431: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'api_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'api_error',
  529: 'overloaded_error',
};

export function anthropicErrorBody(input: {
  code: ErrorCode;
  status: number;
  message: string;
  requestId: string;
  extra?: Record<string, unknown>;
}): Record<string, unknown> {
  const type = TYPE_BY_STATUS[input.status] ?? 'api_error';
  return { type: 'error', error: { type, message: input.message, code: input.code }, request_id: input.requestId, ...input.extra };
}
