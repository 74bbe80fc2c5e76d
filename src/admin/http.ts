// Small HTTP helpers for the UI port: JSON and text answers, coded admin errors, bounded JSON bodies, query values.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type AdminErrorCode =
  | 'unauthorized'
  | 'writes_disabled'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'invalid_request'
  | 'invalid_override'
  | 'governance_not_configured'
  | 'internal';

const STATUS: Readonly<Record<AdminErrorCode, number>> = {
  unauthorized: 401,
  writes_disabled: 403,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  invalid_request: 400,
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
    this.status = STATUS[code];
    this.extra = options.extra;
    this.headers = options.headers;
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown, options: { indent?: number; headers?: Record<string, string> } = {}): void {
  const body = `${JSON.stringify(value, null, options.indent)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...options.headers,
  });
  res.end(body);
}

/** Plain-text answer with a trailing newline, as Go's http.Error writes it. */
export function sendText(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = `${message}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

export function sendAdminError(res: ServerResponse, error: AdminError): void {
  sendJson(res, error.status, { error: { code: error.code, message: error.message, ...error.extra } }, { headers: error.headers });
}

/** Reads a JSON body of at most `maxBytes`; an empty body is `undefined`. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new AdminError('invalid_request', `body larger than ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new AdminError('invalid_request', 'body is not valid JSON');
  }
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

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Milliseconds since epoch for an RFC3339 time (offset required, as Go's time.RFC3339 parser), else null. */
export function parseRfc3339(text: string): number | null {
  if (!RFC3339.test(text)) return null;
  const ms = Date.parse(text.replace(' ', 'T'));
  return Number.isFinite(ms) ? ms : null;
}
