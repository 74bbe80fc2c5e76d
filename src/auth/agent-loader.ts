// Reads one agent context directory (metadata.json, budget-override.json, service-auth/*.json) into an Agent; also its change fingerprint.
import { readdirSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isPlainObject, readJsonFile } from '../config/json-file.ts';
import { CONTEXT_OVERRIDE_FILE, type Agent } from './agent.ts';
import { parseModelPolicy } from '../upstream/model-policy.ts';
import { secretDigest } from './secret-compare.ts';
import { storedSecret } from './stored-token.ts';

export interface LoadedAgent {
  readonly agent: Agent;
  /** SHA-256 of the stored secret, or null when the stored token cannot authenticate anyone. */
  readonly secretDigest: Buffer | null;
  /** Problems that do not prevent loading (each names file and field). */
  readonly warnings: readonly string[];
}

export type AgentLoad =
  | { readonly kind: 'missing' }
  | { readonly kind: 'broken'; readonly problem: string }
  | { readonly kind: 'loaded'; readonly loaded: LoadedAgent };

const HISTORY_SERVICE = 'cllama-history';

/** What a stat of an agent's files saw: its change fingerprint, and which of its optional files are there to read. */
export interface AgentFiles {
  readonly fingerprint: string;
  /** budget-override.json is there. */
  readonly override: boolean;
  /** service-auth/*.json, in name order. */
  readonly serviceAuth: readonly string[];
}

/**
 * What changed-detection compares: identity, size and times of every file the agent is built from. Null when the
 * directory has no metadata.json (not an agent, or removed). Synchronous on purpose: a handful of stat calls that cannot
 * throw cost microseconds, while their async versions (thread pool, an Error per missing file) cost ~30x the CPU on a
 * rescan of 1,000 agents. Called off the request path, in small batches that yield to the event loop.
 */
export function agentFiles(dir: string): AgentFiles | null {
  const metadata = statPart(join(dir, 'metadata.json'));
  if (metadata === null) return null;
  const override = statPart(join(dir, CONTEXT_OVERRIDE_FILE));
  const parts = [metadata, override ?? '-'];
  const serviceAuthDir = join(dir, 'service-auth');
  const serviceAuth = statPart(serviceAuthDir) === null ? [] : serviceAuthFilesSync(serviceAuthDir);
  for (const name of serviceAuth) parts.push(`${name}=${statPart(join(serviceAuthDir, name)) ?? '-'}`);
  return { fingerprint: parts.join('|'), override: override !== null, serviceAuth };
}

export function agentFingerprint(dir: string): string | null {
  return agentFiles(dir)?.fingerprint ?? null;
}

/**
 * Lenient where cllama is strict: AGENTS.md / CLAWDAPUS.md are not required, a wrong-typed string field is ignored with a
 * warning, the raw `budget` is kept as written (the budget engine validates it, so a wrong type never locks the agent
 * out), an unparsable budget-override.json becomes `contextOverrideError`. Only an unreadable or unparsable metadata.json
 * makes the directory unusable.
 */
export async function loadAgentDir(options: { id: string; dir: string; files?: AgentFiles }): Promise<AgentLoad> {
  const { id, dir, files } = options;
  const metadataFile = join(dir, 'metadata.json');
  const metadata = await readJsonFile(metadataFile);
  if (metadata.kind === 'missing') return { kind: 'missing' };
  if (metadata.kind === 'error') return { kind: 'broken', problem: `${metadataFile}: ${metadata.problem}` };
  if (!isPlainObject(metadata.value)) return { kind: 'broken', problem: `${metadataFile}: must be a JSON object` };
  const fields = metadata.value;
  const warnings: string[] = [];

  const stored = storedSecret({ agentId: id, token: fields.token });
  if (!stored.ok) warnings.push(`${metadataFile}: ${stored.problem}; agent "${id}" cannot authenticate`);
  const modelPolicy = parseModelPolicy({ raw: fields.model_policy, file: metadataFile, prefix: 'model_policy.' });
  if (modelPolicy.kind === 'invalid') {
    for (const problem of modelPolicy.problems) warnings.push(`${metadataFile}: ${problem}; every model call of agent "${id}" is refused until it is fixed`);
  }
  const text = (key: string): string => {
    const value = fields[key];
    if (value === undefined || value === null) return '';
    if (typeof value === 'string') return value;
    warnings.push(`${metadataFile}: ${key}: must be a string (ignored)`);
    return '';
  };
  // what the fingerprint saw missing is not read (a failed open costs an Error): one that appears since changes the
  // fingerprint, and is read by the next scan
  const override = files && !files.override ? { value: undefined } : await readOverride(dir);
  const agent: Agent = {
    id,
    secret: stored.ok ? stored.secret : '',
    pod: text('pod'),
    service: text('service'),
    type: text('type'),
    timezone: text('timezone'),
    dir,
    metadataBudget: fields.budget,
    ...(modelPolicy.kind === 'none' ? {} : { modelPolicy }),
    contextOverride: override.value,
    ...(override.error ? { contextOverrideError: override.error } : {}),
    historyTokens: await historyTokens({ dir, names: files?.serviceAuth, warnings }),
  };
  return { kind: 'loaded', loaded: { agent: Object.freeze(agent), secretDigest: stored.ok ? secretDigest(stored.secret) : null, warnings } };
}

async function readOverride(dir: string): Promise<{ value: unknown; error?: string }> {
  const file = join(dir, CONTEXT_OVERRIDE_FILE);
  const read = await readJsonFile(file);
  if (read.kind === 'missing') return { value: undefined };
  if (read.kind === 'error') return { value: undefined, error: read.problem };
  return { value: read.value };
}

/** service-auth/*.json in name order: `{service: "cllama-history", auth_type: "bearer", token}` entries are history replay tokens. */
async function historyTokens(options: { dir: string; names?: readonly string[]; warnings: string[] }): Promise<readonly string[]> {
  const tokens: string[] = [];
  for (const name of options.names ?? (await serviceAuthFiles(options.dir))) {
    const file = join(options.dir, 'service-auth', name);
    const read = await readJsonFile(file);
    if (read.kind === 'error') options.warnings.push(`${file}: ${read.problem} (ignored)`);
    if (read.kind !== 'ok' || !isPlainObject(read.value)) continue;
    const { service, auth_type: authType, token } = read.value;
    if (service === HISTORY_SERVICE && authType === 'bearer' && typeof token === 'string' && token.trim()) tokens.push(token.trim());
  }
  return Object.freeze(tokens);
}

async function serviceAuthFiles(dir: string): Promise<string[]> {
  try {
    const names = await readdir(join(dir, 'service-auth'));
    return names.filter((name) => name.endsWith('.json')).sort();
  } catch {
    return [];
  }
}

/**
 * Null when nothing is there (ENOENT, or ENOTDIR: the "directory" is a plain file). Any other failure (a symlink loop,
 * EACCES) is a part of its own, so the file counts as present and its read reports the problem, for this agent alone.
 */
function statPart(path: string): string | null {
  try {
    const info = statSync(path, { bigint: true, throwIfNoEntry: false });
    return info ? `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}` : null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? null : `!${code ?? 'error'}`;
  }
}

function serviceAuthFilesSync(serviceAuth: string): string[] {
  try {
    return readdirSync(serviceAuth)
      .filter((name) => name.endsWith('.json'))
      .sort();
  } catch {
    return [];
  }
}
