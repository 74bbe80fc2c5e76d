// Sends the prepared request upstream and relays the answer; the client's disconnect and the deadlines abort the call.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProxyError } from '../errors.ts';
import { relayResponse } from '../stream/tap.ts';
import { downstreamResponseHeaders, upstreamRequestHeaders } from '../upstream/headers.ts';
import type { RequestContext } from './context.ts';
import type { PipelineDeps } from './deps.ts';
import { finishCall } from './finish.ts';

export async function dispatchAndRelay(input: { req: IncomingMessage; res: ServerResponse; ctx: RequestContext; deps: PipelineDeps }): Promise<void> {
  const { res, ctx, deps } = input;
  const route = ctx.route!;
  const { timeouts } = deps.config;
  const controller = new AbortController();
  const abort = (reason: unknown) => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const clientGone = () => res.destroyed && !res.writableFinished;
  const onClose = () => {
    if (!res.writableFinished) abort(new ProxyError('upstream_unreachable', { message: 'client closed the connection' }));
  };
  res.on('close', onClose);
  // non-streamed calls get one deadline over headers and body; streams are policed by the tap's first-byte/idle watchdog
  const deadline = ctx.stream ? null : setTimeout(() => abort(new ProxyError('upstream_timeout', { message: `upstream did not answer within ${timeouts.dispatchMs} ms` })), timeouts.dispatchMs);
  deadline?.unref();

  const body = Buffer.from(JSON.stringify(ctx.upstreamBody));
  const headers = upstreamRequestHeaders({ incoming: input.req.headers, provider: route.provider, bodyLength: body.length });
  deps.bus.emit({ type: 'request', claw_id: ctx.agent!.id, model: ctx.route!.requestedModel, intervention: null, request_id: ctx.id, path: ctx.path, provider: route.provider.name, upstream_model: route.upstreamModel, stream: ctx.stream });
  try {
    const upstream = await deps.upstream.send({
      url: route.url,
      headers,
      body,
      signal: controller.signal,
      headersTimeoutMs: ctx.stream ? timeouts.firstByteMs : timeouts.dispatchMs,
    });
    const relay = await relayResponse({
      upstream,
      res,
      dialect: ctx.dialect,
      headers: { ...downstreamResponseHeaders({ upstream: upstream.headers, keepLength: false }), ...ctx.admission?.headers, 'x-request-id': ctx.id },
      stripUsageChunk: ctx.stream && !ctx.clientWantsUsage,
      streamTimeouts: { firstByteMs: timeouts.firstByteMs, idleMs: timeouts.idleMs },
      abort,
      clientGone,
      signal: controller.signal,
    });
    ctx.statusCode = upstream.statusCode;
    await finishCall({ ctx, deps, relay });
  } finally {
    if (deadline) clearTimeout(deadline);
    res.off('close', onClose);
  }
}
