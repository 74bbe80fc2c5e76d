// A request under a model policy: the requested model resolved to an allowed ref, then every candidate routed up front.
import { ProxyError } from '../errors.ts';
import { normalizeModelName } from './model-name.ts';
import { candidateRefs, failoverUnreachable, isDisallowed, rejects, resolveRequested, allowedRefs, type ModelPolicy, type Resolution } from './model-policy.ts';
import type { Route } from './provider.ts';
import type { ProviderRegistry } from './registry.ts';
import { CHAT_PATH, MESSAGES_PATH, RESPONSES_PATH, resolveRoute, splitModel } from './routing.ts';

export interface PolicyRouting {
  /** The model the agent asked for, normalized ('' when it sent none). */
  readonly requestedModel: string;
  readonly resolution: Resolution;
  /** Where the call may go, in order: the chosen ref, then its failover tail. Each route's requestedModel is its ref. */
  readonly candidates: readonly Route[];
  /** cllama's `policy_failover_unreachable`: the policy names several models, this request can try one. */
  readonly failoverUnreachable: boolean;
}

export interface PolicyRouteInput {
  readonly policy: ModelPolicy;
  readonly path: string;
  readonly query: string;
  /** The body's `model` as sent (any JSON type: anything but a non-empty string is `missing`). */
  readonly model: unknown;
  readonly registry: ProviderRegistry;
  /** The agent's id, named in a reject-mode refusal. */
  readonly agentId: string;
}

/**
 * Resolves and routes as cllama does: the chat route normalizes providers (OpenRouter's bridge), `/v1/messages` takes
 * only `anthropic/…` candidates. Every candidate is routed before anything is sent: one that cannot route fails the
 * request (cllama). Throws ProxyError: `model_not_allowed` (reject mode), `model_policy_incompatible`, routing's codes.
 */
export function routeWithPolicy(input: PolicyRouteInput): PolicyRouting {
  const { policy, path } = input;
  if (path !== CHAT_PATH && path !== MESSAGES_PATH && path !== RESPONSES_PATH) throw new ProxyError('not_found', { message: `no model route for ${path}` });
  const requestedModel = typeof input.model === 'string' ? normalizeModelName(input.model) : '';
  const chat = path !== MESSAGES_PATH; // chat completions and responses route the same way
  const resolution = resolveRequested({ policy, requested: requestedModel, normalizedRef: chat ? (ref) => routedKey(input, ref) : undefined });
  if (rejects(policy) && isDisallowed(resolution.reason)) {
    throw new ProxyError('model_not_allowed', {
      message: `model ${JSON.stringify(clip(requestedModel))} is not allowed by the model policy of agent "${input.agentId}"; allowed: ${allowedRefs(policy).join(', ')}`,
      param: 'model',
    });
  }
  const refs = candidateRefs(policy, resolution.chosenRef);
  const candidates = refs.map((ref) => {
    if (!chat && splitModel(ref)?.provider !== 'anthropic') throw new ProxyError('model_policy_incompatible');
    return resolveRoute({ path, query: input.query, model: ref, registry: input.registry });
  });
  if (candidates.length === 0) throw new ProxyError('missing_model'); // an active policy without refs, and no model sent
  return { requestedModel, resolution, candidates, failoverUnreachable: failoverUnreachable(policy, refs) };
}

/** Where a chat model routes, keys aside (`provider/upstream-model`), or null when it does not route. */
function routedKey(input: PolicyRouteInput, ref: string): string | null {
  try {
    const route = resolveRoute({ path: CHAT_PATH, query: '', model: ref, registry: input.registry, checkKeys: false });
    return `${route.provider.name}/${route.upstreamModel}`;
  } catch {
    return null;
  }
}

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}
