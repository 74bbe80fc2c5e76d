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

export async function adminRequest(target: AdminTarget, input: { method?: string; path: string; body?: unknown; timeoutMs?: number }): Promise<any> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  if (input.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(`${target.url}${input.path}`, {
      method: input.method ?? 'GET',
      headers,
      body: input.body === undefined ? undefined : JSON.stringify(input.body),
      signal: AbortSignal.timeout(input.timeoutMs ?? 10_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new AdminRequestError(`cannot reach tollgate's UI port at ${target.url} (${cause}); is it running? (--url, TOLLGATE_UI_URL or UI_ADDR)`, { unreachable: true });
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (response.ok) return body;
  const apiError = body?.error;
  if (response.status === 401) {
    throw new AdminRequestError(target.token ? 'the UI token was refused (401): check --token or CLLAMA_UI_TOKEN' : 'this tollgate needs the UI token (401): pass --token or set CLLAMA_UI_TOKEN', { status: 401, code: 'unauthorized' });
  }
  const message = apiError?.message ?? (text.trim() || response.statusText);
  throw new AdminRequestError(`${input.method ?? 'GET'} ${input.path}: ${response.status} ${message}`, { status: response.status, code: apiError?.code ?? null, problems: Array.isArray(apiError?.problems) ? apiError.problems : [] });
}
