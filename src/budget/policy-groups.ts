// The budget groups of today's policies: each agent with the shared budgets it draws from, joined into components.
import type { Agent } from '../auth/agent.ts';
import { BudgetGroups } from '../ledger/budget-groups.ts';
import type { PolicyResult } from './policy/policy.ts';

/**
 * A getter for the grouped Redis ledger layout: the groups are computed again only when the policies or the agents
 * changed (a reload), from every agent's effective policy; between reloads a call costs two comparisons.
 */
export function policyGroups(options: {
  readonly agents: { list(): readonly Agent[]; readonly version: number };
  readonly policies: { effective(agent: Agent, now: number): PolicyResult; readonly version: number };
  readonly now: () => number;
}): () => BudgetGroups {
  let held: { policies: number; agents: number; groups: BudgetGroups } | null = null;
  return () => {
    const { agents, policies } = options;
    if (held && held.policies === policies.version && held.agents === agents.version) return held.groups;
    const now = options.now();
    const memberships = agents.list().map((agent) => {
      const policy = policies.effective(agent, now);
      return { agentId: agent.id, shared: policy.kind === 'policy' ? policy.shared : [] };
    });
    held = { policies: policies.version, agents: agents.version, groups: BudgetGroups.of(memberships) };
    return held.groups;
  };
}
