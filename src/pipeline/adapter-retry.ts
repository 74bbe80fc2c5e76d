// cllama's auto-retry through the Responses adapter (spec-routing §1.8): a chat call the provider says belongs on /v1/responses.
import type { ResponsesAdapterSettings } from '../protocol/chat-responses/settings.ts';
import { chat } from '../protocol/index.ts';
import type { UpstreamResponse } from '../upstream/client.ts';
import type { AdmittedCall } from './context.ts';
import type { PipelineDeps } from './deps.ts';
import { adapterPlan, type AdapterPlan } from './responses-adapter.ts';

/** How much of a 400/404 answer's body is read for the signal (cllama: the first 4096 bytes, lower-cased). */
export const SIGNAL_BYTES = 4096;
const SIGNALS = ['use /v1/responses', 'only supported in v1/responses', 'only supported in /v1/responses'];

/** A 400 or 404 whose body's head names the Responses API as the only way to this model. */
export function namesResponsesApi(status: number, head: string): boolean {
  if (status !== 400 && status !== 404) return false;
  const lower = head.toLowerCase();
  return SIGNALS.some((signal) => lower.includes(signal));
}

/**
 * Whether a call may still be retried through the adapter: a chat call not already on it. tollgate's
 * CLLAMA_RESPONSES_API_DISABLED covers the retry too (cllama's switch does not: its documented defect).
 */
export function mayRetryThroughAdapter(call: AdmittedCall, settings: ResponsesAdapterSettings): boolean {
  return call.protocol === chat && call.adapter === undefined && !settings.disabled;
}

/**
 * Looks at an answer the key pool did not judge: when it names the Responses API, it is dropped and the call switched to
 * the adapter (its plan set on the call, `responses_api_adapter_retry` and the mutations recorded), to be sent again.
 * Otherwise the answer is left whole for the relay (only its head was peeked). Throws the adapter's 400 when the chat
 * body cannot go to the Responses API (`n`, `stop`, ...).
 */
export async function switchedToAdapter(input: { call: AdmittedCall; deps: PipelineDeps; upstream: UpstreamResponse }): Promise<AdapterPlan | null> {
  const { call, deps, upstream } = input;
  if (upstream.statusCode !== 400 && upstream.statusCode !== 404) return null;
  if (!namesResponsesApi(upstream.statusCode, await upstream.body.peek(SIGNAL_BYTES, deps.config.timeouts.idleMs))) return null;
  upstream.body.discard();
  const plan = adapterPlan({
    settings: deps.config.responsesAdapter,
    route: call.route,
    query: call.query,
    chatBody: call.upstreamBody,
    stream: call.stream,
    includeUsage: call.clientWantsUsage,
  });
  call.adapter = plan;
  // cllama names the retry `responses_api_adapter_retry` (not `responses_api_adapter`), then the mutations
  for (const name of ['responses_api_adapter_retry', ...plan.interventions.filter((name) => name !== 'responses_api_adapter')]) {
    call.interventions.push(name);
    deps.bus.emit({ type: 'intervention', claw_id: call.agent.id, model: call.route.requestedModel, intervention: name, request_id: call.id });
  }
  return plan;
}
