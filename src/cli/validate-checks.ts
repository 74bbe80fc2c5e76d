// `tollgate validate`: every problem of the configuration, the context dir, providers.json and the governance dir, with file and field.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CONTEXT_OVERRIDE_FILE, type Agent } from '../auth/agent.ts';
import { loadAgentDir } from '../auth/agent-loader.ts';
import { parsePolicySource, sourceProblems, type ParsedSource, type PolicySource } from '../budget/policy/fields.ts';
import { listGovernanceTree, policyFileSignature, readPolicyFile, type PolicyFileKind } from '../budget/policy/files.ts';
import { PolicyStore } from '../budget/policy/store.ts';
import type { Config } from '../config/config.ts';
import { envValue, type Env } from '../config/env-values.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { listAgentDirs } from './agent-dirs.ts';
import { checkModelPolicies } from './validate-model-policy.ts';

export type Severity = 'error' | 'warning';

export interface Finding {
  readonly severity: Severity;
  /** The file the problem is in, or null for an environment variable. */
  readonly file: string | null;
  /** The field (`budget.limit_usd`, `limits[1].window`) or variable (`LISTEN_ADDR`), when named. */
  readonly field: string | null;
  readonly message: string;
  /** The whole line as tollgate reports it elsewhere: `file: field: message`. */
  readonly text: string;
}

export interface ValidationReport {
  readonly ok: boolean;
  readonly findings: readonly Finding[];
  readonly notices: readonly string[];
  readonly checked: {
    readonly context_root: string | null;
    readonly agents: number;
    readonly auth_dir: string | null;
    readonly providers: number;
    readonly governance_dir: string | null;
    readonly overrides: number;
    readonly shared_budgets: number;
  };
}

export interface ValidateOptions {
  readonly env: Env;
  readonly cwd: string;
  readonly now: number;
  /** Where the container mounts live (default /claw); tests point it elsewhere. */
  readonly clawRoot?: string;
}

/** Splits `file: field: message` (or `VARIABLE: message`) into its parts. */
export function parseFinding(severity: Severity, text: string): Finding {
  const first = text.indexOf(': ');
  if (first < 0) return { severity, file: null, field: null, message: text, text };
  const head = text.slice(0, first);
  const isFile = head.includes('/') || head.includes('\\') || head.endsWith('.json');
  const rest = isFile ? text.slice(first + 2) : text;
  const fieldMatch = /^([A-Za-z_][\w.[\]-]*): (.*)$/s.exec(rest);
  return {
    severity,
    file: isFile ? head : null,
    field: fieldMatch ? fieldMatch[1] : null,
    message: fieldMatch ? fieldMatch[2] : rest,
    text,
  };
}

class Findings {
  readonly #seen = new Set<string>();
  readonly list: Finding[] = [];

  add(severity: Severity, raw: string): void {
    const text = collapseRepeatedFile(raw);
    const key = `${severity}\u0000${text}`;
    if (this.#seen.has(key) || (severity === 'warning' && this.#seen.has(`error\u0000${text}`))) return;
    this.#seen.add(key);
    this.list.push(parseFinding(severity, text));
  }
}

export async function validateSetup(options: ValidateOptions): Promise<ValidationReport> {
  const { env, cwd, now } = options;
  const findings = new Findings();
  let config: Config | null = null;
  let notices: readonly string[] = [];
  try {
    config = loadConfig({ env, cwd, clawRoot: options.clawRoot, createLocalDirs: false });
    notices = config.notices;
    if (config.providers.length === 0)
      findings.add(
        'warning',
        `${join(config.authDir, 'providers.json')}: no provider is configured: add one to providers.json or set OPENAI_API_KEY, ANTHROPIC_API_KEY, ...`,
      );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) findings.add('error', problem);
  }
  const contextRoot = config?.contextRoot ?? dirFromEnv(env, 'CLAW_CONTEXT_ROOT', cwd);
  const governanceDir = config ? config.governanceDir : dirFromEnv(env, 'CLAW_GOVERNANCE_DIR', cwd);

  const agents = contextRoot
    ? await checkContext({
        dir: contextRoot,
        findings,
        localFallback: contextRoot === join(cwd, '.tollgate', 'context') && !envValue(env, 'CLAW_CONTEXT_ROOT'),
      })
    : [];
  const governance = governanceDir ? await checkGovernanceDir({ dir: governanceDir, agents, findings }) : { overrides: 0, shared: 0 };
  await checkPolicies({ agents, governanceDir, findings, now });

  const rank = (finding: Finding) => (finding.severity === 'error' ? 0 : 1);
  const ordered = [...findings.list].sort((a, b) => rank(a) - rank(b) || (a.file ?? '').localeCompare(b.file ?? ''));
  return {
    ok: !ordered.some((finding) => finding.severity === 'error'),
    findings: ordered,
    notices,
    checked: {
      context_root: contextRoot,
      agents: agents.length,
      auth_dir: config?.authDir ?? dirFromEnv(env, 'CLAW_AUTH_DIR', cwd),
      providers: config?.providers.length ?? 0,
      governance_dir: governanceDir,
      overrides: governance.overrides,
      shared_budgets: governance.shared,
    },
  };
}

/** `f: f: message` (a message that already named its file, wrapped again with it) → `f: message`. */
function collapseRepeatedFile(text: string): string {
  const first = text.indexOf(': ');
  if (first < 0) return text;
  const head = text.slice(0, first + 2);
  return text.startsWith(head, first + 2) ? text.slice(first + 2) : text;
}

function dirFromEnv(env: Env, name: string, cwd: string): string | null {
  const value = env[name]?.trim();
  return value ? resolve(cwd, value) : null;
}

/**
 * Every agent directory the proxy would load, taken as the registry takes them (symlinked directories included):
 * metadata.json readable, a token that can authenticate, string fields, service-auth files.
 */
async function checkContext(input: { dir: string; findings: Findings; localFallback: boolean }): Promise<Agent[]> {
  const { dir, findings } = input;
  if (input.localFallback && !existsSync(dir)) {
    findings.add('warning', `CLAW_CONTEXT_ROOT: unset, and the local fallback ${dir} does not exist yet (serve creates it): no agents`);
    return [];
  }
  if (!isDirectory(dir)) {
    findings.add('error', `CLAW_CONTEXT_ROOT: ${dir} is not a directory`);
    return [];
  }
  const listed = listAgentDirs(dir);
  for (const path of listed.ignored) findings.add('warning', `${path}: not a plain agent id (letters, digits, . _ -), ignored`);
  const agents: Agent[] = [];
  for (const entry of listed.entries) {
    const load = entry.loads ? await loadAgentDir({ id: entry.id, dir: entry.dir }) : { kind: 'missing' as const };
    if (load.kind === 'missing') {
      findings.add(
        'warning',
        entry.isDirectory
          ? `${join(entry.dir, 'metadata.json')}: missing, so "${entry.id}" is not an agent`
          : `${entry.dir}: not a directory, so "${entry.id}" is not an agent`,
      );
    } else if (load.kind === 'broken') {
      findings.add('error', load.problem);
    } else {
      for (const warning of load.loaded.warnings) findings.add(/cannot authenticate|is refused until it is fixed/.test(warning) ? 'error' : 'warning', warning);
      agents.push(load.loaded.agent);
    }
  }
  return agents;
}

/** The governance tree as the policy store lists and reads it: each `<agent>/budget.json` and `_shared/<name>.json` on its own. */
async function checkGovernanceDir(input: { dir: string; agents: readonly Agent[]; findings: Findings }): Promise<{ overrides: number; shared: number }> {
  const { dir, agents, findings } = input;
  if (!isDirectory(dir)) {
    findings.add('error', `CLAW_GOVERNANCE_DIR: ${dir} is not a directory`);
    return { overrides: 0, shared: 0 };
  }
  const known = new Set(agents.map((agent) => agent.id));
  const tree = await listGovernanceTree(dir);
  for (const { file, kind } of tree.ignored) {
    if (policyFileSignature(file) !== null)
      findings.add('warning', `${file}: not a plain ${kind === 'shared' ? 'budget name' : 'agent id'} (letters, digits, . _ -), ignored`);
  }
  let overrides = 0;
  for (const [id, file] of tree.agents) {
    if (!(await checkPolicyFile({ file, kind: 'governance', findings }))) continue;
    overrides += 1;
    if (!known.has(id)) findings.add('warning', `${file}: there is no agent "${id}" in CLAW_CONTEXT_ROOT, so this override applies to nobody`);
  }
  let shared = 0;
  for (const file of tree.shared.values()) if (await checkPolicyFile({ file, kind: 'shared', findings })) shared += 1;
  return { overrides, shared };
}

/** Reads the file as the policy store does and reports its problems; false when there is no such file. */
async function checkPolicyFile(input: { file: string; kind: PolicyFileKind; findings: Findings }): Promise<boolean> {
  if (policyFileSignature(input.file) === null) return false;
  const parsed = await readPolicyFile({ file: input.file, kind: input.kind });
  if (parsed) reportSource(parsed, input.findings);
  return parsed !== null;
}

function reportSource(parsed: ParsedSource, findings: Findings): void {
  for (const problem of sourceProblems(parsed)) findings.add('error', `${parsed.source.file}: ${problem}`);
  for (const warning of parsed.warnings) findings.add('warning', `${parsed.source.file}: ${warning}`);
}

/**
 * Each agent's own sources (metadata budget, context override) on their own, then the merged policy as the proxy will
 * see it (missing shared budgets, a window needed by a limit set in another file, ...).
 */
async function checkPolicies(input: { agents: readonly Agent[]; governanceDir: string | null; findings: Findings; now: number }): Promise<void> {
  const { agents, findings } = input;
  for (const agent of agents) {
    const metadata: PolicySource = { kind: 'metadata', file: join(agent.dir, 'metadata.json') };
    reportSource(parsePolicySource({ raw: agent.metadataBudget, source: metadata, prefix: 'budget.' }), findings);
    const overrideFile = join(agent.dir, CONTEXT_OVERRIDE_FILE);
    if (agent.contextOverrideError) findings.add('error', `${overrideFile}: ${agent.contextOverrideError}`);
    else reportSource(parsePolicySource({ raw: agent.contextOverride, source: { kind: 'context_override', file: overrideFile } }), findings);
  }
  const governanceDir = input.governanceDir && isDirectory(input.governanceDir) ? input.governanceDir : null;
  const store = new PolicyStore({ governanceDir });
  await store.reload();
  for (const agent of agents) {
    const policy = store.effective(agent, input.now);
    if (policy.kind === 'unavailable') for (const problem of policy.problems) findings.add('error', problem);
  }
  for (const budget of store.listShared()) for (const problem of budget.problems) findings.add('error', `${budget.file}: ${problem}`);
  await checkModelPolicies({ agents, governanceDir, budgets: store, now: input.now, add: (severity, text) => findings.add(severity, text) });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
