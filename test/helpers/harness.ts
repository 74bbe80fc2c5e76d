// Test harness: a temp context/auth/history/governance tree, a fake upstream, and a running tollgate wired to both.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../src/config/load.ts';
import { startTollgate, type Tollgate } from '../../src/main.ts';
import { DEFAULT_FORWARD_HEADERS } from '../../src/upstream/forward-headers.ts';
import { startFakeUpstream, type Behavior, type FakeUpstream } from './fake-upstream.ts';

export interface AgentSpec {
  token?: string;
  budget?: unknown;
  contextOverride?: unknown;
  pod?: string;
  /** metadata.json `timezone`. */
  timezone?: string;
  /** metadata.json `model_policy`. */
  modelPolicy?: unknown;
}

export interface HarnessOptions {
  agents?: Record<string, AgentSpec>;
  governance?: Record<string, unknown>;
  /** Shared budgets, written to `<governance>/_shared/<name>.json`. */
  shared?: Record<string, unknown>;
  env?: Record<string, string>;
  upstream?: Behavior;
  /** Providers to configure against the fake upstream (default openai, anthropic, openrouter). */
  providers?: string[];
  /** The providers' keys (default PROVIDER_KEYS). */
  providerKeys?: Record<string, string>;
  /** More providers.json fields of a provider (e.g. `forward_headers`; undefined drops the field), by name. */
  providerFields?: Record<string, Record<string, unknown>>;
  /** A providers.json of the test's own (v2 key pools), given the fake upstream's URL; replaces `providers`. */
  providersFile?: (fakeUrl: string) => unknown;
  /** Session history lines written to `<history>/<agent>/history.jsonl` before the first start (objects as JSON, strings as they are). */
  seedHistory?: Record<string, readonly unknown[]>;
  /** The clock of budgets and the embedded ledger (default Date.now). */
  now?: () => number;
}

export interface Harness {
  readonly root: string;
  readonly fake: FakeUpstream;
  readonly tollgate: Tollgate;
  readonly url: string;
  readonly events: Record<string, unknown>[];
  token(agentId: string): string;
  historyLines(agentId: string): Record<string, unknown>[];
  /** The agent's history.jsonl as written ('' when there is none). */
  historyText(agentId: string): string;
  writeGovernance(agentId: string, policy: unknown): void;
  /** Writes `<governance>/<agent>/model-policy.json` (a string as it is). */
  writeModelPolicy(agentId: string, policy: unknown): void;
  restart(): Promise<Harness>;
  close(options?: { keepFiles?: boolean }): Promise<void>;
}

/**
 * The default allow list plus the fake upstream's per-request behaviour header (tests steer it through the proxy).
 * A test of the default itself sets `providerFields: { <name>: { forward_headers: undefined } }`.
 */
export const TEST_FORWARD_HEADERS: readonly string[] = [...DEFAULT_FORWARD_HEADERS, 'x-fake-behavior'];

export const PROVIDER_KEYS: Record<string, string> = {
  openai: 'sk-real-openai-key-123',
  anthropic: 'sk-ant-real-key-456',
  openrouter: 'sk-or-real-key-789',
};

export async function startHarness(options: HarnessOptions = {}, reuse?: { root: string; fake: FakeUpstream }): Promise<Harness> {
  const fake = reuse?.fake ?? (await startFakeUpstream(options.upstream ?? {}));
  const root = reuse?.root ?? mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const dirs = { context: join(root, 'context'), auth: join(root, 'auth'), history: join(root, 'history'), governance: join(root, 'governance') };
  if (!reuse) {
    for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
    const agents = options.agents ?? { a: {} };
    for (const [id, spec] of Object.entries(agents)) {
      mkdirSync(join(dirs.context, id), { recursive: true });
      const metadata: Record<string, unknown> = { token: spec.token ?? `${id}:secret-${id}`, service: id, pod: spec.pod ?? 'test-pod', type: 'test' };
      if (spec.budget !== undefined) metadata.budget = spec.budget;
      if (spec.timezone !== undefined) metadata.timezone = spec.timezone;
      if (spec.modelPolicy !== undefined) metadata.model_policy = spec.modelPolicy;
      writeFileSync(join(dirs.context, id, 'metadata.json'), JSON.stringify(metadata));
      // a string is written as it is (a broken file), anything else as JSON
      if (spec.contextOverride !== undefined)
        writeFileSync(
          join(dirs.context, id, 'budget-override.json'),
          typeof spec.contextOverride === 'string' ? spec.contextOverride : JSON.stringify(spec.contextOverride),
        );
    }
    for (const [id, policy] of Object.entries(options.governance ?? {})) writeGovernanceFile(dirs.governance, id, policy);
    for (const [name, policy] of Object.entries(options.shared ?? {})) {
      mkdirSync(join(dirs.governance, '_shared'), { recursive: true });
      writeFileSync(join(dirs.governance, '_shared', `${name}.json`), JSON.stringify(policy));
    }
    for (const [id, lines] of Object.entries(options.seedHistory ?? {})) {
      mkdirSync(join(dirs.history, id), { recursive: true });
      writeFileSync(join(dirs.history, id, 'history.jsonl'), lines.map((line) => `${typeof line === 'string' ? line : JSON.stringify(line)}\n`).join(''));
    }
    const providers: Record<string, unknown> = {};
    for (const name of options.providers ?? ['openai', 'anthropic', 'openrouter']) {
      providers[name] = {
        base_url: `${fake.url}/v1`,
        api_key: options.providerKeys?.[name] ?? PROVIDER_KEYS[name] ?? `sk-${name}`,
        auth: name === 'anthropic' ? 'x-api-key' : 'bearer',
        forward_headers: TEST_FORWARD_HEADERS,
        ...options.providerFields?.[name],
      };
    }
    writeFileSync(join(dirs.auth, 'providers.json'), JSON.stringify(options.providersFile ? options.providersFile(fake.url) : { providers }));
  }
  const config = loadConfig({
    cwd: root,
    env: {
      LISTEN_ADDR: '127.0.0.1:0',
      UI_ADDR: '127.0.0.1:0',
      CLAW_CONTEXT_ROOT: dirs.context,
      CLAW_AUTH_DIR: dirs.auth,
      CLAW_SESSION_HISTORY_DIR: dirs.history,
      CLAW_GOVERNANCE_DIR: dirs.governance,
      ...options.env,
    },
  });
  const events: Record<string, unknown>[] = [];
  const audit = new PassThrough();
  let pending = '';
  audit.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.trim()) events.push(JSON.parse(line));
    }
  });
  const tollgate = await startTollgate({ config, auditDestination: audit, log: () => undefined, now: options.now });
  const harness: Harness = {
    root,
    fake,
    tollgate,
    url: tollgate.apiUrl,
    events,
    token: (agentId) => options.agents?.[agentId]?.token ?? `${agentId}:secret-${agentId}`,
    historyText: (agentId) => {
      const file = join(dirs.history, agentId, 'history.jsonl');
      return existsSync(file) ? readFileSync(file, 'utf8') : '';
    },
    historyLines: (agentId) =>
      harness
        .historyText(agentId)
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
    writeGovernance: (agentId, policy) => writeGovernanceFile(dirs.governance, agentId, policy),
    writeModelPolicy: (agentId, policy) => {
      mkdirSync(join(dirs.governance, agentId), { recursive: true });
      writeFileSync(join(dirs.governance, agentId, 'model-policy.json'), typeof policy === 'string' ? policy : JSON.stringify(policy));
    },
    restart: async () => {
      await tollgate.close();
      return startHarness(options, { root, fake });
    },
    close: async (closeOptions) => {
      await tollgate.close();
      await fake.close();
      if (!closeOptions?.keepFiles) rmSync(root, { recursive: true, force: true });
    },
  };
  return harness;
}

function writeGovernanceFile(dir: string, agentId: string, policy: unknown): void {
  mkdirSync(join(dir, agentId), { recursive: true });
  writeFileSync(join(dir, agentId, 'budget.json'), typeof policy === 'string' ? policy : JSON.stringify(policy));
}
