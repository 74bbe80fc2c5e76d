// Central model policies held in memory: `<governance>/<agent>/model-policy.json` and `_shared/model-policy/<pod>.json`, rescanned.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isPlainAgentId, type Agent } from '../../auth/agent.ts';
import { readJsonFile } from '../../config/json-file.ts';
import { parseModelPolicy, type ParsedModelPolicy } from '../../upstream/model-policy.ts';
import { policyFileSignature, SHARED_DIR } from './files.ts';

export const MODEL_POLICY_FILE = 'model-policy.json';
/** `_shared/model-policy/<pod>.json`: a directory, so the shared budgets beside it (`_shared/<name>.json`) never see it. */
export const SHARED_MODEL_POLICY_DIR = 'model-policy';

export interface ModelPolicyStoreOptions {
  /** CLAW_GOVERNANCE_DIR, or null (then only metadata.json's model_policy applies). */
  readonly governanceDir: string | null;
  /** Problems of a file the moment it is (re)loaded. */
  readonly onError?: (file: string, message: string) => void;
  /** Rescan period (default 2000 ms, as the budget policies). */
  readonly pollMs?: number;
}

/** Files read per turn of the event loop (a stat each), as policy-store.ts does. */
const SCAN_CHUNK = 64;

interface Held {
  readonly signature: string;
  readonly parsed: ParsedModelPolicy;
}

/**
 * Which model policy applies to an agent, from memory: its governance file, else its pod's shared file, else
 * metadata.json's `model_policy`. A file that stops parsing keeps its last good version (as budget files do).
 */
export class ModelPolicyStore {
  readonly #options: ModelPolicyStoreOptions;
  readonly #agents = new Map<string, Held>();
  readonly #pods = new Map<string, Held>();
  readonly #cache = new WeakMap<Agent, { version: number; parsed: ParsedModelPolicy }>();
  #version = 0;
  #scanning: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: ModelPolicyStoreOptions) {
    this.#options = options;
  }

  get version(): number {
    return this.#version;
  }

  async start(): Promise<void> {
    await this.reload();
    if (!this.#options.governanceDir) return;
    this.#timer = setInterval(() => void this.reload(), this.#options.pollMs ?? 2000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** The policy in force for the agent (none, a policy, or invalid: every call refused). */
  effective(agent: Agent): ParsedModelPolicy {
    const cached = this.#cache.get(agent);
    if (cached && cached.version === this.#version) return cached.parsed;
    const parsed = this.#agents.get(agent.id)?.parsed ?? (agent.pod ? this.#pods.get(agent.pod)?.parsed : undefined) ?? agent.modelPolicy ?? NONE;
    this.#cache.set(agent, { version: this.#version, parsed });
    return parsed;
  }

  /** Where the agent's governance model policy lives, or null (no governance dir, or not a plain id). */
  fileFor(agentId: string): string | null {
    const dir = this.#options.governanceDir;
    return dir && isPlainAgentId(agentId) ? join(dir, agentId, MODEL_POLICY_FILE) : null;
  }

  /** Rescans now (reading only files whose size, mtime or inode changed). */
  reload(): Promise<void> {
    if (this.#scanning) {
      this.#again = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      try {
        do {
          this.#again = false;
          await this.#scan();
        } while (this.#again);
      } finally {
        this.#scanning = null;
      }
    })();
    return this.#scanning;
  }

  async #scan(): Promise<void> {
    const dir = this.#options.governanceDir;
    if (!dir) return;
    const agents = new Map<string, string>();
    for (const name of await listNames(dir, true)) if (isPlainAgentId(name)) agents.set(name, join(dir, name, MODEL_POLICY_FILE));
    const pods = new Map<string, string>();
    const podDir = join(dir, SHARED_DIR, SHARED_MODEL_POLICY_DIR);
    for (const name of await listNames(podDir, false)) {
      const pod = name.endsWith('.json') ? name.slice(0, -'.json'.length) : '';
      if (isPlainAgentId(pod)) pods.set(pod, join(podDir, name));
    }
    const changed = (await this.#sync(this.#agents, agents)) + (await this.#sync(this.#pods, pods));
    if (changed > 0) this.#version += 1;
  }

  async #sync(held: Map<string, Held>, seen: ReadonlyMap<string, string>): Promise<number> {
    let changed = 0;
    for (const key of held.keys()) if (!seen.has(key) && held.delete(key)) changed += 1;
    let inChunk = 0;
    for (const [key, file] of seen) {
      if (++inChunk > SCAN_CHUNK) {
        inChunk = 1;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const signature = policyFileSignature(file);
      const previous = held.get(key);
      if (signature === null) {
        if (held.delete(key)) changed += 1;
        continue;
      }
      if (previous?.signature === signature) continue;
      const parsed = await readModelPolicy(file);
      if (parsed === null) continue; // gone since its stat: the next rescan forgets it
      if (parsed.kind === 'invalid') for (const problem of parsed.problems) this.#tell(file, problem);
      if (parsed.kind === 'invalid' && previous && previous.parsed.kind !== 'invalid') {
        this.#tell(file, 'its previous version stays in force until the file parses again');
        held.set(key, { signature, parsed: previous.parsed });
        continue;
      }
      held.set(key, { signature, parsed });
      changed += 1;
    }
    return changed;
  }

  #tell(file: string, message: string): void {
    try {
      this.#options.onError?.(file, message);
    } catch {
      // reported or not, the rescan goes on
    }
  }
}

const NONE: ParsedModelPolicy = { kind: 'none' };

/** A governance model policy file as a parsed policy (null when there is none): unreadable or not JSON is `invalid` with why. */
export async function readModelPolicy(file: string): Promise<ParsedModelPolicy | null> {
  const read = await readJsonFile(file);
  if (read.kind === 'missing') return null;
  if (read.kind === 'error') return { kind: 'invalid', file, problems: [read.problem] };
  if (read.value === null) return { kind: 'invalid', file, problems: ['must be a JSON object, got null'] };
  return parseModelPolicy({ raw: read.value, file });
}

async function listNames(dir: string, directories: boolean): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((entry) => (directories ? !entry.isFile() : !entry.isDirectory())).map((entry) => entry.name);
  } catch {
    return [];
  }
}
