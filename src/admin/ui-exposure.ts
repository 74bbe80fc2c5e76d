// Who may reach the UI port while no CLLAMA_UI_TOKEN guards it: loopback callers only (unless TOLLGATE_UI_OPEN=1), under a Host no one can rebind.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export interface UiExposureOptions {
  /** CLLAMA_UI_TOKEN is set: the token guards every read of data, nothing more is checked here. */
  readonly tokenConfigured: boolean;
  /** TOLLGATE_UI_OPEN=1: callers from any address are answered without a token (cllama's behaviour). */
  readonly open: boolean;
  /** UI_ADDR's host, accepted as a Host name (unless it is a wildcard). */
  readonly listenHost: string;
  /** TOLLGATE_UI_HOSTS: more names the UI is reached by (lower case). */
  readonly extraHosts: readonly string[];
}

export const UI_LOOPBACK_ONLY_MESSAGE =
  'without CLLAMA_UI_TOKEN the operator UI answers loopback callers only: set CLLAMA_UI_TOKEN (or TOLLGATE_UI_OPEN=1 to serve it to the network without one)';

/**
 * Without a token the UI serves every agent's prompts and answers to whoever reaches it, so by default it answers
 * loopback peers only. And a page on any site could reach it through the operator's own browser by DNS rebinding (its
 * name made to resolve to 127.0.0.1): such a request carries that site's name in Host, so only names that cannot be
 * rebound are accepted: IP literals, `localhost` (and `*.localhost`), UI_ADDR's host and TOLLGATE_UI_HOSTS. With a
 * token, neither check applies: a rebound page holds neither the token nor the session cookie (kept per host name).
 */
export class UiExposure {
  readonly #options: UiExposureOptions;
  readonly #names: ReadonlySet<string>;

  constructor(options: UiExposureOptions) {
    this.#options = options;
    const names = new Set(options.extraHosts);
    const listen = options.listenHost.toLowerCase();
    if (listen !== '' && listen !== '0.0.0.0' && listen !== '::') names.add(listen);
    this.#names = names;
  }

  /** Why this request is not answered, or null when it is. */
  refusal(req: IncomingMessage): string | null {
    if (this.#options.tokenConfigured) return null;
    if (!this.#options.open && !isLoopbackAddress(req.socket.remoteAddress)) return UI_LOOPBACK_ONLY_MESSAGE;
    const host = req.headers.host;
    if (host === undefined || this.#acceptsHost(host)) return null;
    return `Host "${host.slice(0, 100)}" is not a name of this UI (DNS rebinding guard): use an IP address, localhost, or a name listed in TOLLGATE_UI_HOSTS, or set CLLAMA_UI_TOKEN`;
  }

  #acceptsHost(header: string): boolean {
    const name = hostName(header);
    if (name === null) return false;
    return isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || this.#names.has(name);
  }
}

/** The name of a Host header without its port, lower case; a bracketed IPv6 literal without brackets. */
function hostName(header: string): string | null {
  const value = header.trim().toLowerCase();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return end < 0 ? null : value.slice(1, end);
  }
  const colon = value.indexOf(':');
  const name = colon < 0 ? value : value.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || (isIP(v4) === 4 && v4.startsWith('127.'));
}
