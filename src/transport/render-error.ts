// The single error exit: renders any thrown value as a ProxyError in the caller's wire format, once.
import type { ServerResponse } from 'node:http';
import { ProxyError, isProxyError } from '../errors.ts';
import type { Protocol } from '../protocol/protocol.ts';

export function toProxyError(value: unknown): ProxyError {
  if (isProxyError(value)) return value;
  return new ProxyError('internal', { cause: value });
}

export function errorBody(input: { error: ProxyError; protocol: Protocol; requestId: string }): Record<string, unknown> {
  const { error } = input;
  return input.protocol.errorBody({
    code: error.code,
    status: error.status,
    message: error.message,
    requestId: input.requestId,
    extra: error.extra,
    param: error.param,
  });
}

/** Writes the error unless the response has already started (then the connection is ended). */
export function renderError(input: {
  res: ServerResponse;
  error: ProxyError;
  protocol: Protocol;
  requestId: string;
  headers?: Readonly<Record<string, string>>;
}): void {
  const { res, error } = input;
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const payload = JSON.stringify(errorBody(input));
  const headers: Record<string, string | number> = {
    ...input.headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'x-request-id': input.requestId,
    'x-tollgate-request-id': input.requestId,
    'x-should-retry': String(error.retryable),
    ...error.headers,
  };
  // a body refused for its size, or cut for its slowness, is not read to the end: the connection cannot be reused
  if (error.status === 413 || error.status === 408) headers.connection = 'close';
  res.writeHead(error.status, headers);
  res.end(payload);
}
