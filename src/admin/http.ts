// Small HTTP helpers for the UI port: request targets, coded admin errors, bounded JSON bodies, query values.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../http/respond.ts';
import { parseRfc3339 } from '../http/rfc3339.ts';

export type AdminErrorCode =
  | 'unauthorized'
  | 'writes_disabled'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'invalid_request'
  | 'payload_too_large'
  | 'headers_too_large'
  | 'request_timeout'
  | 'invalid_override'
  | 'governance_not_configured'
  | 'internal';

/** Each admin error code's HTTP status (documented in docs/admin-api.md; a test keeps the two in step). */
export const ADMIN_ERROR_STATUS: Readonly<Record<AdminErrorCode, number>> = {
  unauthorized: 401,
  writes_disabled: 403,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  invalid_request: 400,
  payload_too_large: 413,
  headers_too_large: 431,
  request_timeout: 408,
  invalid_override: 400,
  governance_not_configured: 409,
  internal: 500,
};

/** An admin API refusal: rendered as `{"error":{"code","message",...extra}}` with the code's status. */
export class AdminError extends Error {
  readonly code: AdminErrorCode;
  readonly status: number;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: AdminErrorCode, message: string, options: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'AdminError';
    this.code = code;
    this.status = ADMIN_ERROR_STATUS[code];
    this.extra = options.extra;
    this.headers = options.headers;
  }
}

export function sendAdminError(res: ServerResponse, error: AdminError): void {
  sendJson(res, error.status, { error: { code: error.code, message: error.message, ...error.extra } }, { headers: error.headers });
}

/**
 * Reads a JSON body of at most `maxBytes`; an empty body is `undefined`. A body declared or found larger is refused
 * with 413 and the rest of it is read and dropped (never left on the connection for the parser to take as the next
 * request, and never a reset before the client has the answer).
 */
export function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new AdminError('payload_too_large', `body larger than ${maxBytes} bytes`);
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    req.resume();
    return Promise.reject(
      new AdminError('invalid_request', `compressed bodies are not accepted (content-encoding: ${encoding.slice(0, 40)}): send plain JSON`),
    );
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.resume();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('error', reject);
    // after 'end' this is a no-op (the promise is settled); before it, the client left with its body half sent
    req.once('close', () => reject(new AdminError('invalid_request', 'the client closed the connection before its body was read')));
    req.once('end', () => {
      if (size > maxBytes) return;
      try {
        resolve(parseJsonText(Buffer.concat(chunks, size).toString('utf8')));
      } catch (error) {
        reject(error);
      }
    });
  });
}

function parseJsonText(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new AdminError('invalid_request', 'body is not valid JSON');
  }
}

/**
 * The URL of a request target: a target starting with '/' is a path (`//x` included: it names no host, as Go reads
 * it), anything else must be an absolute URL. Null when it is neither.
 */
export function requestUrl(target: string | undefined): URL | null {
  const raw = target ?? '/';
  try {
    return new URL(raw.startsWith('/') ? `http://ui.invalid${raw}` : raw);
  } catch {
    return null;
  }
}

/** The admin API's paths (JSON errors); the rest of the UI port answers errors in plain text. */
export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/') || path.startsWith('/api?');
}

/** An RFC3339 / ISO-8601 time from a query parameter, null when absent, an invalid_request error when malformed. */
export function queryTime(params: URLSearchParams, name: string): Date | null {
  const raw = params.get(name);
  if (raw === null || raw === '') return null;
  const ms = parseRfc3339(raw);
  if (ms === null) throw new AdminError('invalid_request', `${name} must be RFC3339, like 2026-03-01T12:00:00Z`);
  return new Date(ms);
}

/** A positive integer from a query parameter, `fallback` when absent, clamped to `max`. */
export function queryLimit(params: URLSearchParams, options: { fallback: number; max: number }): number {
  const raw = params.get('limit');
  if (raw === null || raw === '') return options.fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new AdminError('invalid_request', 'limit must be an integer');
  const value = Number(raw);
  if (value <= 0) throw new AdminError('invalid_request', 'limit must be > 0');
  return Math.min(value, options.max);
}
