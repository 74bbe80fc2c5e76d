// The request path, top to bottom: auth → body → route → admit → dispatch+relay → settle, record, observe.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProxyError } from '../errors.ts';
import { limitBodyTime } from '../transport/body.ts';
import { releaseWhenSent } from '../transport/answer-drain.ts';
import { renderError, toProxyError } from '../transport/render-error.ts';
import type { Protocol } from '../protocol/protocol.ts';
import type { CallProgress } from './context.ts';
import type { PipelineDeps } from './deps.ts';
import { dispatchCandidates } from './failover.ts';
import { readRequest, startCall } from './intake.ts';
import { outcomeEvent } from './outcome-event.ts';
import { settleCall } from './settle.ts';

/**
 * One model call, in the steps of docs/architecture.md. The steps fill `progress` as they succeed; whatever fails
 * leaves through the one exit below: the reservation released (settle), the error in the caller's wire format, the
 * outcome event, and the bytes held released once the answer has left the process.
 */
export async function handleModelCall(input: { req: IncomingMessage; res: ServerResponse; protocol: Protocol; deps: PipelineDeps }): Promise<void> {
  const { req, res, deps } = input;
  deps.inFlight.started(); // ended in the finally below, once the call is charged, recorded and observed
  limitBodyTime(req, deps.config.intake.bodyTimeoutMs); // before auth: a refused caller's unread body is bounded too
  const progress: CallProgress = { start: startCall(req.url, input.protocol) };
  try {
    const request = await readRequest({ req, progress, deps }); // 1 auth, 2 body
    // 3 route (the model policy's candidates), then per candidate until one answers: 4 admit, 5 dispatch, 6 tap;
    // 7 price, 8 record, 9 settle before the answer ends; 10 observe (pipeline/failover.ts)
    await dispatchCandidates({ req, res, request, progress, deps });
  } catch (thrown) {
    const error = toProxyError(thrown);
    if (progress.call) await settleCall({ call: progress.call, deps, relay: null, upstreamWorked: false }).catch(() => undefined);
    renderError({ res, error, protocol: input.protocol, requestId: progress.start.id, headers: progress.admission?.headers });
    if (!isBudgetBlock(error)) deps.bus.emit(outcomeEvent({ progress, error }));
  } finally {
    // held until the answer has left the process: one written whole waits on the socket until the client reads it
    releaseWhenSent({ res, hold: progress.bytes, stallMs: deps.config.timeouts.idleMs });
    deps.inFlight.ended();
  }
}

/** Budget blocks are reported by the engine as interventions; they are not errors of the proxy. */
function isBudgetBlock(error: ProxyError): boolean {
  return error.code === 'budget_exceeded' || error.code === 'rate_limited' || error.code === 'unknown_cost_blocked' || error.code === 'loop_detected';
}
