// Parsers for single environment values; each reports a problem naming the variable instead of throwing.
import type { ListenAddress } from './config.ts';

export type Env = Record<string, string | undefined>;

/** A collector that parsers push `VARIABLE: what is wrong` lines into. */
export interface Problems {
  readonly problems: string[];
  readonly notices: string[];
}

/** The trimmed value, or undefined when unset or blank. */
export function envValue(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** `:8080` (all interfaces), `host:port`, `[::1]:8080`. Port 0 asks the OS for a free port. */
export function parseListenAddress(options: { env: Env; name: string; fallback: string; report: Problems }): ListenAddress {
  const { env, name, fallback, report } = options;
  const raw = envValue(env, name) ?? fallback;
  const colon = raw.lastIndexOf(':');
  if (colon < 0) {
    report.problems.push(`${name}: expected host:port or :port, got "${raw}"${/^\d+$/.test(raw) ? ` (did you mean ":${raw}"?)` : ''}`);
    return { host: '0.0.0.0', port: 0 };
  }
  let host = raw.slice(0, colon);
  const portText = raw.slice(colon + 1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!Number.isInteger(port) || port > 65535) {
    report.problems.push(`${name}: port must be an integer from 0 to 65535, got "${portText}"`);
    return { host: host || '0.0.0.0', port: 0 };
  }
  return { host: host || '0.0.0.0', port };
}

/** cllama's rule for its own knobs: a non-integer or a value ≤ 0 silently means the default (we add a notice). */
export function lenientPositiveInt(options: { env: Env; name: string; fallback: number; report: Problems }): number {
  const { env, name, fallback, report } = options;
  const raw = envValue(env, name);
  if (raw === undefined) return fallback;
  const value = parseInteger(raw);
  if (value === null || value <= 0) {
    report.notices.push(`${name}="${raw}" is not a positive integer; using the default ${fallback} (as cllama does)`);
    return fallback;
  }
  return value;
}

/** tollgate's own knobs are strict: a value that is not a positive integer is a configuration problem. */
export function strictPositiveInt(options: { env: Env; name: string; fallback: number; report: Problems }): number {
  const { env, name, fallback, report } = options;
  const raw = envValue(env, name);
  if (raw === undefined) return fallback;
  const value = parseInteger(raw);
  if (value === null || value <= 0) {
    report.problems.push(`${name}: must be a positive integer, got "${raw}"`);
    return fallback;
  }
  return value;
}

function parseInteger(raw: string): number | null {
  if (!/^\+?\d+$/.test(raw)) return null;
  const value = Number(raw);
  return Number.isSafeInteger(value) ? value : null;
}

/** True when `raw` parses as a URL with one of the protocols (e.g. `http:`). */
export function isUrlWithProtocol(raw: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(raw).protocol);
  } catch {
    return false;
  }
}
