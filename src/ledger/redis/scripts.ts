// Builds the Redis ledger's function library from its versioned Lua files, loads it, and calls one function per operation.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import { REDIS_LEDGER_VERSION } from './layout.ts';

export type ScriptName = 'reserve' | 'settle' | 'release' | 'record' | 'standing' | 'forward' | 'mark' | 'fence' | 'adopt' | 'drop';
export const SCRIPT_NAMES: readonly ScriptName[] = ['reserve', 'settle', 'release', 'record', 'standing', 'forward', 'mark', 'fence', 'adopt', 'drop'];
/** Operations whose reply carries packed state: read as Buffers, not text. */
const BINARY_REPLIES: ReadonlySet<ScriptName> = new Set(['fence']);

/** One operation's call: the layout key routes it; namespace, layout, packed levels and the operation's arguments follow. */
export type ScriptCall = (layoutKey: string, namespace: string, layout: string, levels: Buffer, args: readonly (string | Buffer)[]) => Promise<unknown>;
export type LedgerScripts = Record<ScriptName, ScriptCall>;

/** The helpers, in order: created once when Redis loads the library (a script would create them again on every call). */
const HELPERS = ['decode', 'common', 'window', 'usage', 'move'];

function scriptFile(name: string): URL {
  return new URL(`./${name}.v${REDIS_LEDGER_VERSION}.lua`, import.meta.url);
}

export interface LedgerLibrary {
  /** `tollgate_ledger_v<version>_<hash of the source>`: each build's own functions, so two builds never replace each other's. */
  readonly name: string;
  readonly source: string;
  /** The function registered for each operation. */
  readonly functions: Record<ScriptName, string>;
}

let cached: LedgerLibrary | null = null;

/** The library (`#!lua`): the helpers, then one registered function per operation. Read from disk once per process. */
export function ledgerLibrary(): LedgerLibrary {
  if (cached) return cached;
  const read = (name: string) => readFileSync(scriptFile(name), 'utf8');
  const bodies = SCRIPT_NAMES.map((name) => [name, read(name)] as const);
  const text = [...HELPERS.map(read), ...bodies.map(([name, body]) => `${name}\n${body}`)].join('\n');
  const name = `tollgate_ledger_v${REDIS_LEDGER_VERSION}_${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
  const functions = {} as Record<ScriptName, string>;
  const registered = bodies.map(([operation, body]) => {
    functions[operation] = `${name}_${operation}`;
    return `redis.register_function('${functions[operation]}', function(keys, args)\nlocal failed = begin(keys, args)\nif failed then return failed end\n${body}\nend)`;
  });
  cached = { name, functions, source: [`#!lua name=${name}`, ...HELPERS.map(read), ...registered].join('\n') };
  return cached;
}

/** Loads the library on the server, or on every master of a Cluster (already there: nothing to do). */
export async function loadLedgerLibrary(client: Redis | Cluster): Promise<void> {
  const { source } = ledgerLibrary();
  const nodes = 'nodes' in client && typeof client.nodes === 'function' && client.isCluster ? client.nodes('master') : [client as Redis];
  await Promise.all(
    nodes.map(async (node) => {
      try {
        await node.call('FUNCTION', 'LOAD', source);
      } catch (error) {
        if (!/already exists/i.test((error as Error).message)) throw error;
      }
    }),
  );
}

/**
 * Each operation as FCALL of its function. A server without the library (a Redis restarted empty, a new Cluster
 * master, FUNCTION FLUSH) answers "Function not found" before running anything: the library is loaded and the call
 * sent once more.
 */
export function defineLedgerScripts(client: Redis | Cluster): LedgerScripts {
  const { functions } = ledgerLibrary();
  const scripts = {} as LedgerScripts;
  for (const name of SCRIPT_NAMES) {
    // fcallBuffer exists at run time (ioredis makes a Buffer variant of every command) but not in its types; not
    // callBuffer('FCALL', ...), which auto-pipelining sends with the function's name as the command
    const binary = (client as unknown as { fcallBuffer: (...args: unknown[]) => Promise<unknown> }).fcallBuffer;
    const call = (args: readonly (string | Buffer)[]) =>
      BINARY_REPLIES.has(name) ? binary.call(client, functions[name], 1, ...args) : client.fcall(functions[name], 1, ...args);
    scripts[name] = async (layoutKey, namespace, layout, levels, args) => {
      const all = [layoutKey, namespace, layout, levels, ...args];
      try {
        return await call(all);
      } catch (error) {
        if (!/function not found/i.test((error as Error).message)) throw error;
        await loadLedgerLibrary(client);
        return call(all);
      }
    };
  }
  return scripts;
}
