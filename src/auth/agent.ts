// An agent as held in memory: identity, metadata and the raw budget policy from its context directory.
import type { ParsedModelPolicy } from '../upstream/model-policy.ts';

export interface Agent {
  /** Plain name (validated): letters, digits, '.', '_', '-', starting with a letter or digit. */
  readonly id: string;
  /** The secret part of the stored token (after `<agent-id>:`, or the whole stored token when it has no colon). */
  readonly secret: string;
  readonly pod: string;
  readonly service: string;
  readonly type: string;
  readonly timezone: string;
  /** The agent's context directory (absolute path). */
  readonly dir: string;
  /** `metadata.json` `budget` as written (validated by the budget engine, not here). */
  readonly metadataBudget: unknown;
  /** `metadata.json` `model_policy`, typed (upstream/model-policy.ts; absent: none); a governance `model-policy.json` overrides it. */
  readonly modelPolicy?: ParsedModelPolicy;
  /** `<dir>/budget-override.json` parsed, or undefined when absent. */
  readonly contextOverride: unknown;
  /**
   * Set when budget-override.json exists but cannot be read or parsed (what is wrong, without the file: readers name
   * it): the budget engine reports "budget check unavailable".
   */
  readonly contextOverrideError?: string;
  /** History replay tokens from service-auth/*.json with service `cllama-history`. */
  readonly historyTokens: readonly string[];
}

/** An agent's context override, `<context dir>/<agent>/budget-override.json` (cllama's name). */
export const CONTEXT_OVERRIDE_FILE = 'budget-override.json';

/** A plain agent id: no path separators, no leading dot, bounded length. Checked before any path is built. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isPlainAgentId(id: string): boolean {
  return AGENT_ID_PATTERN.test(id) && !id.includes('..');
}

/** What the context root's scan makes of one of its entries (the registry and `tollgate validate` take the same ones). */
export type ContextEntryKind = 'candidate' | 'not_plain' | 'skip';

/**
 * A plain file (a README beside the agents) is skipped; a plain-named anything else is a candidate agent (an agent when
 * its metadata.json is there, symlinks followed); a directory or symlink with another name is ignored with a warning.
 */
export function contextEntryKind(entry: { readonly name: string; isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): ContextEntryKind {
  if (entry.isFile()) return 'skip';
  if (isPlainAgentId(entry.name)) return 'candidate';
  return entry.isDirectory() || entry.isSymbolicLink() ? 'not_plain' : 'skip';
}

/** The agents known now, as the request path and both ports ask for them (auth/registry.ts is the one in use). */
export interface AgentDirectory {
  authenticate(credentials: { agentId: string; secret: string }): Agent | null;
  get(id: string): Agent | undefined;
  list(): Agent[];
}
