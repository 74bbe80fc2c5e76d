// `tollgate validate`, model policies: governance model-policy files, and budget downgrade targets outside an allow list.
import type { Agent } from '../auth/agent.ts';
import { ModelPolicyStore } from '../budget/policy/model-policy-store.ts';
import type { PolicyStore } from '../budget/policy/store.ts';
import { allowedRefs, isActive } from '../upstream/model-policy.ts';
import type { Severity } from './validate-checks.ts';

export interface ModelPolicyCheckInput {
  readonly agents: readonly Agent[];
  readonly governanceDir: string | null;
  /** The budget policies, loaded (their `downgrade_to` is checked against each allow list). */
  readonly budgets: PolicyStore;
  readonly now: number;
  readonly add: (severity: Severity, text: string) => void;
}

/**
 * Loads the model policies as the proxy does; reports each broken file (every call of its agents would be refused) and
 * each `downgrade_to` a budget would route to outside the agent's allow list (the budget's choice would bypass it).
 */
export async function checkModelPolicies(input: ModelPolicyCheckInput): Promise<void> {
  const problems: string[] = [];
  const store = new ModelPolicyStore({ governanceDir: input.governanceDir, onError: (file, message) => problems.push(`${file}: ${message}`) });
  await store.reload();
  for (const problem of problems) input.add('error', problem);
  for (const agent of input.agents) {
    const parsed = store.effective(agent);
    if (parsed.kind === 'invalid') {
      for (const problem of parsed.problems) input.add('error', `${parsed.file}: ${problem}`);
      continue;
    }
    if (parsed.kind !== 'policy') continue;
    if (!isActive(parsed.policy)) continue;
    const budget = input.budgets.effective(agent, input.now);
    const target = budget.kind === 'policy' ? budget.downgradeTo : null;
    const allowed = allowedRefs(parsed.policy);
    if (target && !allowed.includes(target.trim())) {
      input.add(
        'error',
        `${parsed.policy.file}: allowed: agent "${agent.id}"'s budget downgrades to ${JSON.stringify(target)}, outside this allow list (${allowed.join(', ')}): add it, or change downgrade_to`,
      );
    }
  }
}
