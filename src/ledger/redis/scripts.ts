// Loads the versioned Lua scripts of the Redis ledger (shared helpers + one body per operation) and registers them.
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import { REDIS_LEDGER_VERSION } from './layout.ts';

export type ScriptName = 'reserve' | 'settle' | 'release' | 'record' | 'standing';
export const SCRIPT_NAMES: readonly ScriptName[] = ['reserve', 'settle', 'release', 'record', 'standing'];

/** One operation's call: the layout key routes it; namespace, layout and payload go as arguments. */
export type ScriptCall = (layoutKey: string, namespace: string, layout: string, payload: string) => Promise<unknown>;
export type LedgerScripts = Record<ScriptName, ScriptCall>;

function scriptFile(name: string): URL {
  return new URL(`./${name}.v${REDIS_LEDGER_VERSION}.lua`, import.meta.url);
}

let cachedSources: Record<ScriptName, string> | null = null;

/** Full source of each operation's script (helpers first). Read from disk once per process, at start-up. */
export function scriptSources(): Record<ScriptName, string> {
  if (cachedSources) return cachedSources;
  const common = readFileSync(scriptFile('common'), 'utf8');
  const sources = {} as Record<ScriptName, string>;
  for (const name of SCRIPT_NAMES) sources[name] = `${common}\n${readFileSync(scriptFile(name), 'utf8')}`;
  cachedSources = sources;
  return sources;
}

/**
 * Registers every script on the client with ioredis defineCommand: calls go as EVALSHA, and ioredis sends the source
 * again by itself after a Redis restart emptied the script cache (NOSCRIPT).
 */
export function defineLedgerScripts(client: Redis | Cluster): LedgerScripts {
  const sources = scriptSources();
  const scripts = {} as LedgerScripts;
  for (const name of SCRIPT_NAMES) {
    const command = `tollgateLedger_${name}_v${REDIS_LEDGER_VERSION}`;
    client.defineCommand(command, { numberOfKeys: 1, lua: sources[name] });
    const callable = (client as unknown as Record<string, ScriptCall>)[command];
    scripts[name] = (layoutKey, namespace, layout, payload) => callable.call(client, layoutKey, namespace, layout, payload);
  }
  return scripts;
}
