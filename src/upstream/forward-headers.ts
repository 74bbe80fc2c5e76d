// Which of an agent's request headers reach a provider: the operator's allow list per provider, and what never does.

/**
 * Forwarded when the operator names nothing: the headers that select an Anthropic API version or beta feature, which
 * the Anthropic SDKs send and the API needs. Nothing that picks what is billed (OpenAI-Organization, OpenAI-Project)
 * or carries a credential (api-key, x-goog-api-key) reaches a provider with the operator's key unless allowed.
 */
export const DEFAULT_FORWARD_HEADERS: readonly string[] = ['anthropic-version', 'anthropic-beta'];

/**
 * Never forwarded, whatever the allow list says: hop-by-hop and transport headers (tollgate sends its own body, length,
 * type and encoding; `expect` is answered by tollgate), the agent's own credentials (its tollgate token rides in
 * `authorization` or `x-api-key`; the provider's credential is set by tollgate) and cllama's internal headers.
 */
const NEVER_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
  'content-length',
  'content-type',
  'accept-encoding',
  'content-encoding',
  'authorization',
  'x-api-key',
  'cookie',
  'x-claw-consumer-session-epoch',
  'x-cllama-policy-origin',
]);

/** A header name (RFC 9110 token, lower case), optionally ending in `*` for every name with that prefix; `*` alone: all. */
const ENTRY_PATTERN = /^[!#$%&'+.^_`|~0-9a-z-]*\*?$/;

/** Why an allow-list entry cannot be used, or null. */
export function forwardHeaderProblem(entry: string): string | null {
  if (entry === '' || !ENTRY_PATTERN.test(entry)) return `"${entry.slice(0, 60)}" is not a header name (or a prefix ending in *)`;
  if (isNeverForwarded(entry))
    return `"${entry}" is never forwarded: it is a transport header, or carries the agent's own credential (tollgate sets the provider's)`;
  return null;
}

/** Lower-cased, trimmed entries; the problems of those that cannot be used are pushed as `<where>: <problem>`. */
export function normalizeForwardHeaders(options: { entries: readonly unknown[]; where: string; problems: string[] }): string[] {
  const out: string[] = [];
  for (const raw of options.entries) {
    if (typeof raw !== 'string') {
      options.problems.push(`${options.where}: every entry must be a string (a header name)`);
      continue;
    }
    const entry = raw.trim().toLowerCase();
    const problem = forwardHeaderProblem(entry);
    if (problem) options.problems.push(`${options.where}: ${problem}`);
    else out.push(entry);
  }
  return out;
}

function isNeverForwarded(name: string): boolean {
  return NEVER_FORWARDED.has(name) || name.startsWith('proxy-');
}

/** An allow list compiled for lookups on the request path: exact names and prefixes. */
export class ForwardRule {
  readonly #names: ReadonlySet<string>;
  readonly #prefixes: readonly string[];

  constructor(entries: readonly string[]) {
    this.#names = new Set(entries.filter((entry) => !entry.endsWith('*')));
    this.#prefixes = entries.filter((entry) => entry.endsWith('*')).map((entry) => entry.slice(0, -1));
  }

  /** Whether an incoming header (node's lower-case name) goes upstream. */
  admits(name: string): boolean {
    if (isNeverForwarded(name)) return false;
    if (this.#names.has(name)) return true;
    for (const prefix of this.#prefixes) if (name.startsWith(prefix)) return true;
    return false;
  }
}

const rules = new WeakMap<readonly string[], ForwardRule>();

/** The compiled rule of a provider's (frozen) allow list, built once per list. */
export function forwardRule(entries: readonly string[]): ForwardRule {
  let rule = rules.get(entries);
  if (!rule) {
    rule = new ForwardRule(entries);
    rules.set(entries, rule);
  }
  return rule;
}

/** Header names a `Connection` header lists (hop-by-hop by declaration, RFC 9110 7.6.1), or null when it lists none. */
export function connectionNamed(connection: string | string[] | undefined): ReadonlySet<string> | null {
  if (connection === undefined) return null;
  const text = Array.isArray(connection) ? connection.join(',') : connection;
  if (text.indexOf(',') < 0) {
    const only = text.trim().toLowerCase();
    return only === 'keep-alive' || only === 'close' || only === '' ? null : new Set([only]);
  }
  return new Set(text.split(',').map((token) => token.trim().toLowerCase()));
}
