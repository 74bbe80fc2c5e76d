// Parses $CLAW_AUTH_DIR/providers.json in cllama's v1 and v2 formats into providers; every invalid field becomes a problem naming file and field.
import type { AuthScheme, DeclaredKey, KeyState, KeyStrategy, Provider, ProviderKey } from '../upstream/provider.ts';
import type { WireFormat } from '../protocol/wire-format.ts';
import { builtinProvider, defaultApiFormat, defaultAuth } from './builtin-providers.ts';
import { isPlainObject } from './json-file.ts';
import { baseUrlProblem, keyProblem } from './provider-values.ts';
import { normalizeForwardHeaders } from '../upstream/forward-headers.ts';

const AUTH_SCHEMES: readonly AuthScheme[] = ['bearer', 'x-api-key', 'none'];
const WIRE_FORMATS: readonly WireFormat[] = ['openai', 'anthropic'];
const KEY_STRATEGIES: readonly KeyStrategy[] = ['active_first', 'round_robin', 'most_headroom'];
const KEY_STATES: readonly KeyState[] = ['ready', 'cooldown', 'dead', 'disabled'];

/** A provider's keys: the usable ones (active first) and every declared one with its state. */
interface ParsedKeys {
  readonly usable: ProviderKey[];
  readonly declared: DeclaredKey[];
}

interface FieldReader {
  readonly file: string;
  readonly problems: string[];
  readonly now: Date;
}

/** Providers declared in the parsed file, in file order. Names are lower-cased and trimmed. */
export function providersFromFile(options: { file: string; json: unknown; now: Date; problems: string[] }): Provider[] {
  const { file, json, problems } = options;
  const reader: FieldReader = { file, problems, now: options.now };
  if (!isPlainObject(json)) {
    problems.push(`${file}: must be a JSON object with a "providers" object`);
    return [];
  }
  const version = json.version ?? 1;
  if (typeof version !== 'number' || !Number.isFinite(version)) {
    problems.push(`${file}: version: must be a number (1 or 2)`);
    return [];
  }
  const declared = json.providers ?? {};
  if (!isPlainObject(declared)) {
    problems.push(`${file}: providers: must be an object keyed by provider name`);
    return [];
  }
  const providers: Provider[] = [];
  const seen = new Set<string>();
  for (const [rawName, entry] of Object.entries(declared)) {
    const name = rawName.trim().toLowerCase();
    const where = `providers.${rawName}`;
    if (!name || name.includes('/')) {
      problems.push(`${file}: ${where}: provider name must be non-empty and contain no "/"`);
      continue;
    }
    if (seen.has(name)) {
      problems.push(`${file}: ${where}: provider "${name}" is declared twice (names are case-insensitive)`);
      continue;
    }
    seen.add(name);
    if (!isPlainObject(entry)) {
      problems.push(`${file}: ${where}: must be an object`);
      continue;
    }
    const provider =
      version >= 2
        ? parseProvider({ reader, name, where, entry, keys: v2Keys({ reader, where, entry }) })
        : parseProvider({ reader, name, where, entry, keys: v1Keys({ reader, name, where, entry }) });
    if (provider) providers.push(provider);
  }
  return providers;
}

function parseProvider(options: { reader: FieldReader; name: string; where: string; entry: Record<string, unknown>; keys: ParsedKeys }): Provider | null {
  const { reader, name, where, entry } = options;
  const keys = options.keys.usable;
  const baseUrlField = optionalString(reader, entry, 'base_url', where)?.trim().replace(/\/+$/, '');
  const baseUrl = baseUrlField || builtinProvider(name)?.baseUrl;
  const auth = optionalChoice(reader, { entry, key: 'auth', where, choices: AUTH_SCHEMES }) ?? defaultAuth(name);
  const apiFormat = optionalChoice(reader, { entry, key: 'api_format', where, choices: WIRE_FORMATS }) ?? defaultApiFormat(name);
  if (!baseUrl) {
    reader.problems.push(`${reader.file}: ${where}.base_url: required for "${name}", which is not a built-in provider`);
    return null;
  }
  const urlProblem = baseUrlProblem(baseUrl);
  if (urlProblem) {
    reader.problems.push(`${reader.file}: ${where}.base_url: ${urlProblem}`);
    return null;
  }
  const forwardHeaders = forwardHeadersField(reader, entry, where);
  const pool = {
    declaredKeys: options.keys.declared,
    activeKeyId: optionalString(reader, entry, 'active_key_id', where)?.trim() || undefined,
    source: optionalString(reader, entry, 'source', where)?.trim() || undefined,
    keyStrategy: optionalChoice(reader, { entry, key: 'key_strategy', where, choices: KEY_STRATEGIES }),
  };
  return { name, baseUrl, auth, apiFormat, keys, ...(forwardHeaders ? { forwardHeaders } : {}), ...pool };
}

/** tollgate's own field (cllama has none): the agent headers this provider gets, replacing the default list. */
function forwardHeadersField(reader: FieldReader, entry: Record<string, unknown>, where: string): string[] | undefined {
  const value = entry.forward_headers;
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    reader.problems.push(`${reader.file}: ${where}.forward_headers: must be an array of header names`);
    return undefined;
  }
  return normalizeForwardHeaders({ entries: value, where: `${reader.file}: ${where}.forward_headers`, problems: reader.problems });
}

/** v1: one `api_key` per provider, seeded as cllama does (`seed:<NAME>_API_KEY`, label primary). */
function v1Keys(options: { reader: FieldReader; name: string; where: string; entry: Record<string, unknown> }): ParsedKeys {
  const { reader, name, where, entry } = options;
  const secret = optionalString(reader, entry, 'api_key', where)?.trim();
  if (!secret || !usableSecret(reader, secret, `${where}.api_key`)) return { usable: [], declared: [] };
  const key = { id: `seed:${name === 'google' ? 'GOOGLE' : name.toUpperCase()}_API_KEY`, label: 'primary', secret };
  return { usable: [key], declared: [{ ...key, ...READY_SEED, addedAt: reader.now.getTime() }] };
}

const READY_SEED = { source: 'seed', state: 'ready', cooldownUntil: null, lastErrorCode: 0, lastErrorReason: '', lastErrorAt: null } as const;

/**
 * v2: a key list with state. Usable: `ready` (or no state), and `cooldown` whose cooldown_until has passed;
 * `dead`, `disabled` and unknown states are skipped. `active_key_id` goes first, the rest keep file order.
 */
function v2Keys(options: { reader: FieldReader; where: string; entry: Record<string, unknown> }): ParsedKeys {
  const { reader, where, entry } = options;
  const list = entry.keys ?? [];
  if (!Array.isArray(list)) {
    reader.problems.push(`${reader.file}: ${where}.keys: must be an array`);
    return { usable: [], declared: [] };
  }
  const usable: ProviderKey[] = [];
  const declared: DeclaredKey[] = [];
  list.forEach((key, index) => {
    const keyWhere = `${where}.keys[${index}]`;
    if (!isPlainObject(key)) {
      reader.problems.push(`${reader.file}: ${keyWhere}: must be an object`);
      return;
    }
    const id = optionalString(reader, key, 'id', keyWhere)?.trim() || `${where.slice('providers.'.length)}-${index}`;
    const label = optionalString(reader, key, 'label', keyWhere)?.trim() || id;
    const secret = optionalString(reader, key, 'secret', keyWhere)?.trim();
    const state = (optionalString(reader, key, 'state', keyWhere) ?? '').trim().toLowerCase();
    const cooldownUntil = optionalTime(reader, key, 'cooldown_until', keyWhere);
    const ready = state === '' || state === 'ready' || (state === 'cooldown' && (cooldownUntil === undefined || cooldownUntil <= reader.now.getTime()));
    if (ready && secret && usableSecret(reader, secret, `${keyWhere}.secret`)) usable.push({ id, label, secret });
    if (!secret || (ready && keyProblem(secret))) return;
    const code = key.last_error_code;
    declared.push({
      id,
      label: optionalString(reader, key, 'label', keyWhere)?.trim() ?? '',
      secret,
      source: optionalString(reader, key, 'source', keyWhere)?.trim() ?? '',
      state: (KEY_STATES as readonly string[]).includes(state) ? (state as KeyState) : state === '' ? 'ready' : 'disabled',
      cooldownUntil: cooldownUntil ?? null,
      lastErrorCode: typeof code === 'number' && Number.isInteger(code) ? code : 0,
      lastErrorReason: optionalString(reader, key, 'last_error_reason', keyWhere) ?? '',
      lastErrorAt: optionalTime(reader, key, 'last_error_at', keyWhere) ?? null,
      addedAt: optionalTime(reader, key, 'added_at', keyWhere) ?? null,
    });
  });
  const activeId = optionalString(reader, entry, 'active_key_id', where)?.trim();
  const active = usable.findIndex((key) => key.id === activeId);
  if (active > 0) usable.unshift(...usable.splice(active, 1));
  return { usable, declared };
}

/** A key that would be used must be sendable; one that is dead or disabled is never sent, so not checked. */
function usableSecret(reader: FieldReader, secret: string, where: string): boolean {
  const problem = keyProblem(secret);
  if (problem) reader.problems.push(`${reader.file}: ${where}: ${problem}`);
  return problem === null;
}

function optionalString(reader: FieldReader, entry: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = entry[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    reader.problems.push(`${reader.file}: ${where}.${key}: must be a string`);
    return undefined;
  }
  return value;
}

function optionalChoice<T extends string>(
  reader: FieldReader,
  options: { entry: Record<string, unknown>; key: string; where: string; choices: readonly T[] },
): T | undefined {
  const { entry, key, where, choices } = options;
  const value = optionalString(reader, entry, key, where)?.trim().toLowerCase();
  if (!value) return undefined;
  if (!(choices as readonly string[]).includes(value)) {
    reader.problems.push(`${reader.file}: ${where}.${key}: must be one of ${choices.map((choice) => `"${choice}"`).join(', ')}, got "${value}"`);
    return undefined;
  }
  return value as T;
}

/** An RFC 3339 time as epoch ms; absent, null or "" is undefined. */
function optionalTime(reader: FieldReader, entry: Record<string, unknown>, key: string, where: string): number | undefined {
  const value = optionalString(reader, entry, key, where)?.trim();
  if (!value) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time)) {
    reader.problems.push(`${reader.file}: ${where}.${key}: must be an RFC 3339 time, got "${value}"`);
    return undefined;
  }
  return time;
}
