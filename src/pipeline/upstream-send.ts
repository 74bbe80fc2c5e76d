// 5 dispatch, the send: the admitted call's request (body serialised once, credential swapped) through the key pool.
import type { IncomingHttpHeaders } from 'node:http';
import { ProxyError } from '../errors.ts';
import type { CallCancel, UpstreamResponse } from '../upstream/client.ts';
import { credential, upstreamRequestHeaders } from '../upstream/headers.ts';
import { mayRetryThroughAdapter, switchedToAdapter } from './adapter-retry.ts';
import type { AdmittedCall } from './context.ts';
import type { PipelineDeps } from './deps.ts';
import { sendWithKeys } from './key-attempts.ts';

/** What one send puts on the wire, before the key's credential. */
interface UpstreamRequest {
  readonly url: string;
  readonly body: Buffer;
  readonly headers: Record<string, string>;
  readonly headersTimeoutMs: number;
}

/**
 * Sends the call: the provider's key pool picks the key and moves to the next on a 401/402/403/429 (key-attempts.ts);
 * a chat call the provider answers "use /v1/responses" is sent again through the adapter, once (adapter-retry.ts),
 * and `onAdapter` told (the call's deadline changes).
 */
export async function sendUpstream(input: {
  call: AdmittedCall;
  deps: PipelineDeps;
  cancel: CallCancel;
  incoming: IncomingHttpHeaders;
  onAdapter: () => void;
}): Promise<UpstreamResponse> {
  const { call, deps, cancel } = input;
  const { route } = call;
  call.upstreamBodyText = serialiseUpstreamBody(call.upstreamBody);
  deps.bus.emit({
    type: 'request',
    claw_id: call.agent.id,
    model: route.requestedModel,
    intervention: null,
    request_id: call.id,
    path: call.path,
    provider: route.provider.name,
    upstream_model: route.upstreamModel,
    stream: call.stream,
  });
  let request = upstreamRequest(call, input);
  const resend = async (answer: UpstreamResponse): Promise<boolean> => {
    if (!mayRetryThroughAdapter(call, deps.config.responsesAdapter) || !(await switchedToAdapter({ call, deps, upstream: answer }))) return false;
    request = upstreamRequest(call, input);
    input.onAdapter();
    return true;
  };
  const { upstream } = await sendWithKeys({
    pools: deps.keys,
    provider: route.provider,
    requestId: call.id,
    cancel,
    send: (key) => {
      const headers = key ? { ...request.headers, ...credential(route.provider, key) } : request.headers;
      return deps.upstream.send({ url: request.url, headers, body: request.body, cancel, headersTimeoutMs: request.headersTimeoutMs });
    },
    resend,
  });
  return upstream;
}

/** The chat body goes upstream, or the adapter's Responses body (history keeps the chat-shaped one either way). */
function upstreamRequest(call: AdmittedCall, input: { deps: PipelineDeps; incoming: IncomingHttpHeaders }): UpstreamRequest {
  const { adapter, route } = call;
  const { timeouts } = input.deps.config;
  const body = Buffer.from(adapter ? adapter.bodyText : (call.upstreamBodyText ?? ''));
  return {
    url: adapter?.url ?? route.url,
    body,
    headers: upstreamRequestHeaders({ incoming: input.incoming, provider: route.provider, bodyLength: body.length }),
    headersTimeoutMs: call.stream ? timeouts.firstByteMs : timeouts.dispatchMs,
  };
}

/** JSON.parse takes any depth, JSON.stringify recurses: a body nested thousands deep is the caller's error, not ours. */
function serialiseUpstreamBody(body: Record<string, unknown>): string {
  try {
    return JSON.stringify(body);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new ProxyError('invalid_request', { message: 'request body is nested too deeply to forward' });
  }
}
