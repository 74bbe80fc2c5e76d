// 3 route: where a call may go. One route without a model policy; under one, the allowed candidates in failover order.
import { ProxyError } from '../errors.ts';
import { isActive } from '../upstream/model-policy.ts';
import { routeWithPolicy, type PolicyRouting } from '../upstream/policy-routes.ts';
import type { Route } from '../upstream/provider.ts';
import { resolveRoute } from '../upstream/routing.ts';
import type { CallRequest } from './context.ts';
import type { PipelineDeps } from './deps.ts';

export interface CandidatePlan {
  /** At least one. */
  readonly candidates: readonly Route[];
  /** Set when the agent's model policy is in force (then each route's requestedModel is its allowed ref). */
  readonly policy: PolicyRouting | null;
}

/**
 * The agent's model policy in force (governance file, pod file or metadata: budget/policy/model-policy-store.ts, from memory)
 * decides the candidates; without one the model routes as sent. A wrongly typed policy refuses every call (cllama
 * refuses such an agent altogether) rather than letting it call any model.
 */
export function planCandidates(input: { request: CallRequest; deps: PipelineDeps }): CandidatePlan {
  const { request, deps } = input;
  const parsed = deps.modelPolicies.effective(request.agent);
  if (parsed.kind === 'invalid') {
    throw new ProxyError('model_policy_invalid', { message: `the model policy of agent "${request.agent.id}" is unusable (wrongly typed: see tollgate validate); no model call is made until it is fixed` });
  }
  if (parsed.kind === 'policy' && isActive(parsed.policy)) {
    const policy = routeWithPolicy({ policy: parsed.policy, path: request.path, query: request.query, model: request.body.model, registry: deps.providers, agentId: request.agent.id });
    return { candidates: policy.candidates, policy };
  }
  return { candidates: [resolveRoute({ path: request.path, query: request.query, model: request.body.model, registry: deps.providers })], policy: null };
}
