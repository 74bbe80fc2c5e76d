// 3 route: where a call may go. One route without a model policy; under one, the allowed candidates in failover order.
import { ProxyError } from '../errors.ts';
import { isActive, type ModelPolicy } from '../upstream/model-policy.ts';
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
    throw new ProxyError('model_policy_invalid', {
      message: `the model policy of agent "${request.agent.id}" is unusable (wrongly typed: see tollgate validate); no model call is made until it is fixed`,
    });
  }
  if (parsed.kind === 'policy' && isActive(parsed.policy)) {
    const policy = routedWithPolicy({ request, deps, policy: parsed.policy });
    return { candidates: policy.candidates, policy };
  }
  return { candidates: [resolveRoute({ path: request.path, query: request.query, model: request.body.model, registry: deps.providers })], policy: null };
}

/** Most resolutions kept per policy (keyed by path, query and the model asked for): agents choose these strings. */
const ROUTINGS_PER_POLICY = 256;
const routings = new WeakMap<ModelPolicy, Map<string, PolicyRouting>>();

/**
 * The policy's routing of this request, from a small cache: a policy (replaced, never changed, on reload) and the
 * provider registry (built once) give the same candidates for the same path, query and model every time.
 */
function routedWithPolicy(input: { request: CallRequest; deps: PipelineDeps; policy: ModelPolicy }): PolicyRouting {
  const { request, policy } = input;
  const model = request.body.model;
  const key = typeof model === 'string' ? `${request.path}\n${request.query}\n${model}` : null;
  let cache = routings.get(policy);
  const hit = key === null ? undefined : cache?.get(key);
  if (hit) return hit;
  // an invisible character, an unroutable ref or a reject-mode refusal throws: never cached
  const routed = routeWithPolicy({ policy, path: request.path, query: request.query, model, registry: input.deps.providers, agentId: request.agent.id });
  if (key === null) return routed;
  if (!cache) {
    cache = new Map();
    routings.set(policy, cache);
  }
  if (cache.size >= ROUTINGS_PER_POLICY) cache.clear();
  cache.set(key, routed);
  return routed;
}
