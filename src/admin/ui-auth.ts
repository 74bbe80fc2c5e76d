// Who may use the UI port: CLLAMA_UI_TOKEN as a bearer, a session cookie derived from it, or ?token= on the live feed.
import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { secretsEqual } from '../auth/secret-compare.ts';
import { bearerToken } from '../auth/token.ts';

export const SESSION_COOKIE = 'tollgate_ui_session';
const SESSION_LABEL = 'tollgate-ui-session-v1';

/** What a request wants to do: reads and the live feed are open without a token; writes never are. */
export type AccessKind = 'read' | 'write' | 'feed';

export type AccessDecision =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: 'unauthorized' | 'writes_disabled' | 'forbidden'; readonly message: string };

export const WRITES_DISABLED_MESSAGE = 'admin writes are disabled: set CLLAMA_UI_TOKEN to enable them';

export class UiAuth {
  readonly #token: string | null;
  readonly #session: string | null;

  constructor(token: string | null) {
    this.#token = token && token.length > 0 ? token : null;
    this.#session = this.#token ? createHmac('sha256', this.#token).update(SESSION_LABEL).digest('base64url') : null;
  }

  get tokenConfigured(): boolean {
    return this.#token !== null;
  }

  /** The cookie value a browser keeps after signing in with ?token= (an HMAC keyed by the token, never the token). */
  get sessionValue(): string | null {
    return this.#session;
  }

  isToken(presented: string): boolean {
    return this.#token !== null && secretsEqual(presented, this.#token);
  }

  decide(req: IncomingMessage, input: { kind: AccessKind; queryToken?: string | null }): AccessDecision {
    if (!this.#token) {
      return input.kind === 'write' ? { ok: false, code: 'writes_disabled', message: WRITES_DISABLED_MESSAGE } : { ok: true };
    }
    const bearer = bearerToken(req.headers.authorization);
    if (bearer !== null) {
      return this.isToken(bearer) ? { ok: true } : { ok: false, code: 'unauthorized', message: 'invalid token' };
    }
    const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (cookie !== null) {
      if (!secretsEqual(cookie, this.#session!))
        return { ok: false, code: 'unauthorized', message: 'invalid or outdated session cookie: sign in again with ?token=' };
      if (input.kind === 'write' && !sameOrigin(req))
        return { ok: false, code: 'forbidden', message: 'the session cookie is not accepted for writes from another origin' };
      return { ok: true };
    }
    if (input.kind === 'feed' && input.queryToken) {
      return this.isToken(input.queryToken) ? { ok: true } : { ok: false, code: 'unauthorized', message: 'invalid token' };
    }
    return { ok: false, code: 'unauthorized', message: 'missing bearer token: send Authorization: Bearer <CLLAMA_UI_TOKEN>' };
  }

  /** The Set-Cookie header value for a browser that presented the right ?token=. */
  sessionCookie(): string {
    return `${SESSION_COOKIE}=${this.#session}; HttpOnly; SameSite=Strict; Path=/`;
  }
}

function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/**
 * The browser's own word when it gives one (`Sec-Fetch-Site`: a page under `Referrer-Policy: no-referrer` posts with
 * `Origin: null`); else no Origin header (not a cross-site browser request), or an Origin whose host is the Host.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin' || site === 'none';
  const origin = req.headers.origin;
  if (!origin) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
