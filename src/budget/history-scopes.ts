// Which ledger scopes a past history entry counts in, from today's policies: used when the ledger is rebuilt from history.
import type { Agent } from '../auth/agent.ts';
import type { HistoryUsageEntry } from '../ledger/rebuild.ts';
import { bareScopes, planRequest } from './plan.ts';
import type { PolicyResult } from './policy/policy.ts';

export function historyScopes(options: {
  readonly agents: { get(id: string): Agent | undefined };
  readonly policies: { effective(agent: Agent, now: number): PolicyResult };
  readonly now: () => number;
}): (entry: HistoryUsageEntry) => readonly string[] {
  return (entry) => {
    const agent = options.agents.get(entry.claw_id);
    const policy = agent ? options.policies.effective(agent, options.now()) : null;
    if (!policy || policy.kind !== 'policy') return bareScopes(entry.claw_id);
    const provider = entry.effective_provider ?? '';
    const model = entry.effective_model ?? '';
    return planRequest(policy, { provider, model, requestedModel: entry.requested_model ?? `${provider}/${model}` }).scopes;
  };
}
