// 4 admit: whether a candidate's estimate fits every limit, and the body it goes upstream with.
import { BodyEstimate } from '../budget/estimate.ts';
import { loopFingerprint } from '../protocol/loop-fingerprint.ts';
import type { PolicyRouting } from '../upstream/policy-routes.ts';
import type { Route } from '../upstream/provider.ts';
import { resolveRoute } from '../upstream/routing.ts';
import type { AdmittedCall, AttemptSummary, CallProgress, CallRequest } from './context.ts';
import { adapterPlan, checkAdaptable, takesAdapter, type AdapterPlan } from './responses-adapter.ts';
import type { Admission } from '../budget/admission.ts';
import type { PreparedRequest } from '../protocol/protocol.ts';
import type { PipelineDeps } from './deps.ts';

export interface AdmitInput {
  readonly request: CallRequest;
  readonly progress: CallProgress;
  readonly deps: PipelineDeps;
  /** Where this attempt goes (pipeline/candidates.ts). */
  readonly route: Route;
  /** Its place in the candidate list (0: the first; later ones get ids of their own). */
  readonly candidate: number;
  /** Under a model policy: the resolution, and the attempts made so far (shared by the request's attempts). */
  readonly routing?: PolicyRouting;
  readonly attempts?: AttemptSummary[];
}

/**
 * Reserves one candidate's estimate (at its own price) against every limit that applies (budget/engine.ts), and
 * prepares the upstream body: only the model rewritten, usage asked for on a chat stream, and the reserved output cap
 * set when the client set none. A refusal is thrown (its admission, with
 * the standing headers the refusal carries, is on `progress`).
 */
export async function admitCall(input: AdmitInput): Promise<AdmittedCall> {
  const { request, progress, deps } = input;
  const { body, protocol } = request;
  const params = protocol.readCallParams(body);
  let route = input.route;
  // each candidate tried is a budget call of its own: its reservation, settlement and history line have their own id
  const id = input.candidate > 0 ? `${request.id}.${input.candidate + 1}` : request.id;
  const adapterSettings = deps.config.responsesAdapter;
  // what the Responses API cannot honour is refused before anything is reserved (cllama: no upstream call)
  if (takesAdapter({ settings: adapterSettings, protocol, route })) checkAdaptable(body, adapterSettings);
  const admission = await deps.budget.admit({
    requestId: id,
    agent: request.agent,
    provider: route.provider.name,
    model: route.upstreamModel,
    requestedModel: route.requestedModel,
    estimate: new BodyEstimate({ body, protocol, params }),
    path: request.path,
    headers: request.headers,
    fingerprint: loopFingerprint({ body, model: route.requestedModel }),
  });
  progress.admission = admission;
  if (admission.error) throw admission.error;
  const interventions: string[] = [];
  if (admission.downgradeTo) {
    route = resolveRoute({ path: request.path, query: request.query, model: admission.downgradeTo, registry: deps.providers });
    interventions.push('model_downgraded');
  }
  const prepared = protocol.prepare(body, route.upstreamModel);
  if (admission.outputCap != null) {
    // the client set no cap: the one reserved goes upstream, so the reservation bounds what the answer costs
    protocol.setOutputCap({ body: prepared.upstreamBody, provider: route.provider.name, cap: admission.outputCap });
    interventions.push('output_capped');
  }
  const adapter = takesAdapter({ settings: adapterSettings, protocol, route })
    ? adapterPlan({
        settings: adapterSettings,
        route,
        query: request.query,
        chatBody: prepared.upstreamBody,
        stream: prepared.stream,
        includeUsage: prepared.clientWantsUsage,
      })
    : undefined;
  for (const name of adapter?.interventions ?? []) {
    interventions.push(name);
    deps.bus.emit({ type: 'intervention', claw_id: request.agent.id, model: route.requestedModel, intervention: name, request_id: request.id });
  }
  if (input.routing?.resolution.reason) interventions.push(input.routing.resolution.reason);
  const call = admittedCall({ request, id, route, admission, prepared, adapter, interventions, routing: input.routing, attempts: input.attempts });
  progress.call = call;
  return call;
}

/**
 * The admitted call, every field written out (those set later too) in one order, so every call has one shape:
 * spreading the request and the prepared body here missed the object literal's inline caches on every call.
 */
function admittedCall(input: {
  request: CallRequest;
  id: string;
  route: Route;
  admission: Admission;
  prepared: PreparedRequest;
  adapter: AdapterPlan | undefined;
  interventions: string[];
  routing: PolicyRouting | undefined;
  attempts: AttemptSummary[] | undefined;
}): AdmittedCall {
  const { request, prepared } = input;
  return {
    id: input.id,
    startedAt: request.startedAt,
    protocol: request.protocol,
    path: request.path,
    query: request.query,
    agent: request.agent,
    bytes: request.bytes,
    bodyText: request.bodyText,
    body: request.body,
    headers: request.headers,
    route: input.route,
    admission: input.admission,
    upstreamBody: prepared.upstreamBody,
    stream: prepared.stream,
    clientWantsUsage: prepared.clientWantsUsage,
    adapter: input.adapter,
    interventions: input.interventions,
    upstreamBodyText: undefined,
    statusCode: undefined,
    upstreamRequestId: undefined,
    usage: null,
    price: undefined,
    attemptStartedAt: Date.now(),
    routing: input.routing,
    attempts: input.routing ? input.attempts : undefined,
  };
}
