// Upstream providers from $CLAW_AUTH_DIR/providers.json plus env keys for the built-in providers the file does not name.
import { join } from 'node:path';
import type { DeclaredKey, Provider, ProviderKey } from '../upstream/provider.ts';
import { BUILTIN_PROVIDERS, defaultApiFormat, defaultAuth, seedKeyLabel } from './builtin-providers.ts';
import { ConfigError } from './config-error.ts';
import { envValue, type Env } from './env-values.ts';
import { readJsonFileSync } from './json-file.ts';
import { providersFromFile } from './providers-file.ts';
import { baseUrlProblem, keyProblem } from './provider-values.ts';
import { normalizeForwardHeaders } from '../upstream/forward-headers.ts';

export interface LoadProvidersOptions {
  readonly authDir: string;
  readonly env: Env;
  /** Clock for v2 key cooldowns (tests). */
  readonly now?: Date;
}

/**
 * Read once at start. The file is authoritative: env keys and base URLs apply only to providers it does not name (as cllama).
 * A provider named in the file is registered even when none of its keys is usable, so routing answers "provider not
 * configured" instead of silently sending its traffic elsewhere. Env-only providers are registered when they have a key,
 * and ollama (auth `none`) when OLLAMA_BASE_URL is set; unlike cllama, `auth: "none"` providers do work.
 * Key state is written back by the key pool (src/keys/pool-file.ts), merged into the file as it is then.
 * Throws ConfigError listing every problem (file and field, or variable). Secrets never appear in a problem.
 */
export function loadProviders(options: LoadProvidersOptions): Provider[] {
  const file = join(options.authDir, 'providers.json');
  const problems: string[] = [];
  const read = readJsonFileSync(file);
  let fromFile: Provider[] = [];
  if (read.kind === 'error') problems.push(`${file}: ${read.problem}`);
  if (read.kind === 'ok') fromFile = providersFromFile({ file, json: read.value, now: options.now ?? new Date(), problems });
  const named = new Set(fromFile.map((provider) => provider.name));
  const fromEnv = providersFromEnv({ env: options.env, skip: named, problems, now: (options.now ?? new Date()).getTime() });
  const forwardDefault = forwardHeadersFromEnv(options.env, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const providers = [...fromFile, ...fromEnv];
  return forwardDefault ? providers.map((provider) => (provider.forwardHeaders ? provider : { ...provider, forwardHeaders: forwardDefault })) : providers;
}

/** TOLLGATE_FORWARD_HEADERS: comma-separated header names, the allow list of every provider that names none. */
function forwardHeadersFromEnv(env: Env, problems: string[]): string[] | undefined {
  const value = envValue(env, 'TOLLGATE_FORWARD_HEADERS');
  if (value === undefined) return undefined;
  return normalizeForwardHeaders({ entries: value.split(',').filter((entry) => entry.trim() !== ''), where: 'TOLLGATE_FORWARD_HEADERS', problems });
}

function providersFromEnv(options: { env: Env; skip: ReadonlySet<string>; problems: string[]; now: number }): Provider[] {
  const { env, skip, problems, now } = options;
  const providers: Provider[] = [];
  for (const builtin of BUILTIN_PROVIDERS) {
    if (skip.has(builtin.name)) continue;
    const keys: ProviderKey[] = [];
    const declaredKeys: DeclaredKey[] = [];
    builtin.keyVars.forEach((variable, index) => {
      const secret = envValue(env, variable);
      if (!secret) return;
      const problem = keyProblem(secret);
      if (problem) problems.push(`${variable}: ${problem}`);
      else {
        keys.push({ id: `seed:${variable}`, label: seedKeyLabel(index), secret });
        declaredKeys.push({
          id: `seed:${variable}`,
          label: seedKeyLabel(index),
          secret,
          source: 'seed',
          state: 'ready',
          cooldownUntil: null,
          lastErrorCode: 0,
          lastErrorReason: '',
          lastErrorAt: null,
          addedAt: now,
        });
      }
    });
    const baseUrlOverride = envValue(env, builtin.baseUrlVar)?.replace(/\/+$/, '');
    const urlProblem = baseUrlOverride === undefined ? null : baseUrlProblem(baseUrlOverride);
    if (urlProblem) {
      problems.push(`${builtin.baseUrlVar}: ${urlProblem}`);
      continue;
    }
    const auth = defaultAuth(builtin.name);
    const configured = keys.length > 0 || (auth === 'none' && baseUrlOverride !== undefined);
    if (!configured) continue;
    const pool = { declaredKeys, activeKeyId: keys[0]?.id, source: 'seed' };
    providers.push({ name: builtin.name, baseUrl: baseUrlOverride ?? builtin.baseUrl, auth, apiFormat: defaultApiFormat(builtin.name), keys, ...pool });
  }
  return providers;
}
