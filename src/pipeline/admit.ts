// 3 route and 4 admit: where a call goes, whether its estimate fits every limit, and the body it goes upstream with.
import { BodyEstimate } from '../budget/estimate.ts';
import { loopFingerprint } from '../protocol/loop-fingerprint.ts';
import { resolveRoute } from '../upstream/routing.ts';
import type { AdmittedCall, CallProgress, CallRequest } from './context.ts';
import { adapterPlan, checkAdaptable, takesAdapter } from './responses-adapter.ts';
import type { PipelineDeps } from './deps.ts';

/**
 * Routes the call (the model name normalized once, upstream/routing.ts), reserves its estimate against every limit
 * that applies (budget/engine.ts), and prepares the upstream body: only the model rewritten, usage asked for on a
 * chat stream, and the reserved output cap set when the client set none. A refusal is thrown (its admission, with
 * the standing headers the refusal carries, is on `progress`).
 */
export async function admitCall(input: { request: CallRequest; progress: CallProgress; deps: PipelineDeps }): Promise<AdmittedCall> {
  const { request, progress, deps } = input;
  const { body, protocol } = request;
  const params = protocol.readCallParams(body);
  let route = resolveRoute({ path: request.path, query: request.query, model: body.model, registry: deps.providers });
  const adapterSettings = deps.config.responsesAdapter;
  // what the Responses API cannot honour is refused before anything is reserved (cllama: no upstream call)
  if (takesAdapter({ settings: adapterSettings, protocol, route })) checkAdaptable(body, adapterSettings);
  const admission = await deps.budget.admit({
    requestId: request.id,
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
    ? adapterPlan({ settings: adapterSettings, route, query: request.query, chatBody: prepared.upstreamBody, stream: prepared.stream, includeUsage: prepared.clientWantsUsage })
    : undefined;
  for (const name of adapter?.interventions ?? []) {
    interventions.push(name);
    deps.bus.emit({ type: 'intervention', claw_id: request.agent.id, model: route.requestedModel, intervention: name, request_id: request.id });
  }
  const call: AdmittedCall = { ...request, route, admission, ...prepared, adapter, interventions, usage: null };
  progress.call = call;
  return call;
}
