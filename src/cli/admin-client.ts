// The CLI's client for a running tollgate's admin API (UI port): where it is, the token, JSON calls with readable errors.
import type { Env } from '../config/env-values.ts';

export const DEFAULT_UI_URL = 'http://127.0.0.1:8081';

export interface AdminTarget {
  readonly url: string;
  readonly token: string | null;
}

/** --url, else TOLLGATE_UI_URL, else UI_ADDR's port on 127.0.0.1, else :8081. --token, else CLLAMA_UI_TOKEN. */
export function resolveAdminTarget(options: { url?: string; token?: string; env: Env }): AdminTarget {
  const { env } = options;
  const url = options.url ?? env.TOLLGATE_UI_URL ?? urlFromAddress(env.UI_ADDR) ?? DEFAULT_UI_URL;
  const token = options.token ?? env.CLLAMA_UI_TOKEN ?? null;
  return { url: url.replace(/\/+$/, ''), token: token && token.trim() !== '' ? token.trim() : null };
}

function urlFromAddress(address: string | undefined): string | null {
  if (!address || !address.trim()) return null;
  const match = /^(.*):(\d+)$/.exec(address.trim());
  if (!match) return null;
  const host = match[1] === '' || match[1] === '0.0.0.0' || match[1] === '[::]' ? '127.0.0.1' : match[1];
  return `http://${host}:${match[2]}`;
}

/** A refusal or failure, with the API's error code and problems when it sent them. */
export class AdminRequestError extends Error {
  readonly status: number | null;
  readonly code: string | null;
  readonly problems: readonly string[];
  /** The connection itself failed (nothing listening, DNS, timeout). */
  readonly unreachable: boolean;

  constructor(message: string, options: { status?: number | null; code?: string | null; problems?: readonly string[]; unreachable?: boolean } = {}) {
    super(message);
    this.name = 'AdminRequestError';
    this.status = options.status ?? null;
    this.code = options.code ?? null;
    this.problems = options.problems ?? [];
    this.unreachable = options.unreachable ?? false;
  }
}

export interface AdminRequest {
  readonly method?: string;
  readonly path: string;
  readonly body?: unknown;
  readonly timeoutMs?: number;
  /** What a successful answer must look like (e.g. has `agents` as an array); anything else is not tollgate answering. */
  readonly expect?: (body: any) => boolean;
}

const ERROR_TEXT_MAX = 200;

export async function adminRequest(target: AdminTarget, input: AdminRequest): Promise<any> {
  const method = input.method ?? 'GET';
  const endpoint = `${method} ${input.path.split('?')[0]}`;
  const url = adminUrl(target, input.path);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  if (input.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: input.body === undefined ? undefined : JSON.stringify(input.body),
      signal: AbortSignal.timeout(input.timeoutMs ?? 10_000),
    });
    text = await response.text();
  } catch (error) {
    throw new AdminRequestError(
      `cannot reach tollgate's UI port at ${target.url} (${failureCause(error)}); is it running? (--url, TOLLGATE_UI_URL or UI_ADDR)`,
      { unreachable: true },
    );
  }
  const body = parseJson(text);
  if (response.ok) {
    const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
    if (isObject && (!input.expect || input.expect(body))) return body;
    throw new AdminRequestError(
      `${endpoint}: ${response.status}, but the answer is not tollgate's admin API (${describeText(text)}): is ${target.url} tollgate's UI port?`,
      { status: response.status },
    );
  }
  const apiError = body?.error;
  if (response.status === 401) {
    throw new AdminRequestError(
      target.token
        ? 'the UI token was refused (401): check --token or CLLAMA_UI_TOKEN'
        : 'this tollgate needs the UI token (401): pass --token or set CLLAMA_UI_TOKEN',
      { status: 401, code: 'unauthorized' },
    );
  }
  const message = typeof apiError?.message === 'string' ? apiError.message : text.trim() ? describeText(text) : response.statusText || 'no body';
  throw new AdminRequestError(`${endpoint}: ${response.status} ${message}`, {
    status: response.status,
    code: typeof apiError?.code === 'string' ? apiError.code : null,
    problems: Array.isArray(apiError?.problems) ? apiError.problems.map(String) : [],
  });
}

/** The URL to call; a --url that is not an http(s) URL is said to be one, not reported as "cannot reach". */
function adminUrl(target: AdminTarget, path: string): string {
  let base: URL | null = null;
  try {
    base = new URL(target.url);
  } catch {
    base = null;
  }
  if (!base || (base.protocol !== 'http:' && base.protocol !== 'https:')) {
    throw new AdminRequestError(
      `the UI URL must be an http(s) URL like ${DEFAULT_UI_URL}, got ${JSON.stringify(target.url.slice(0, 200))} (--url, TOLLGATE_UI_URL or UI_ADDR)`,
    );
  }
  return `${target.url}${path}`;
}

function failureCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).name ?? String(error);
}

function parseJson(text: string): any {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** A body that is not the API's JSON, on one line and short: an HTML error page must not flood the terminal. */
function describeText(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line === '') return 'an empty body';
  return line.length > ERROR_TEXT_MAX ? `${line.slice(0, ERROR_TEXT_MAX)}…` : line;
}
