// 5 dispatch and 6 tap: sends the admitted call upstream and relays its answer; disconnects and deadlines abort it.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { ProxyError } from '../errors.ts';
import { relayResponse, type RelayResult } from '../stream/tap.ts';
import { CallCancel, type UpstreamResponse } from '../upstream/client.ts';
import { keysToMask, maskKeysInText } from '../upstream/key-mask.ts';
import type { ProviderKey } from '../upstream/provider.ts';
import { isRedirect, redirectRefused } from '../upstream/redirect.ts';
import { headerValue } from '../http/header-value.ts';
import { downstreamResponseHeaders } from '../upstream/headers.ts';
import type { AdmittedCall } from './context.ts';
import type { PipelineDeps } from './deps.ts';
import { outcomeEvent } from './outcome-event.ts';
import { settleCall } from './settle.ts';
import { sendUpstream } from './upstream-send.ts';

/**
 * Relays the answer to the client, charged and recorded (settle.ts) before it ends, then emits the call's outcome. A
 * call cut before its answer could be relayed, while the upstream worked on it, is charged here and its error thrown.
 */
export async function dispatchAndRelay(input: DispatchInput): Promise<void> {
  const { res, call, deps } = input;
  const cancel = new CallCancel();
  (res as CallResponse)[CALL] = cancel;
  res.on('close', onResponseClose);
  const attempt: Attempt = { call, deps, cancel, answeredOk: false, providerKeys: keysToMask(call.route.provider), deadline: null };
  armDeadline(attempt);
  try {
    const relay = await sendAndRelay({ attempt, req: input.req, res, failoverOnStatus: input.failoverOnStatus === true });
    deps.bus.emit(outcomeEvent({ call, relay }));
  } catch (error) {
    // what an upstream said can reach an error message (rendered to the agent, logged): masked like its answer
    if (error instanceof ProxyError) error.message = maskKeysInText(error.message, attempt.providerKeys);
    // cut before its answer could be relayed, while the upstream was working on it: charged and recorded here, the
    // error itself leaves through handle.ts
    if (call.statusCode === undefined && upstreamWasWorking({ cancel, answeredOk: attempt.answeredOk, error })) {
      await settleCall({ call, deps, relay: cutBeforeAnswer(call, res), upstreamWorked: true });
    }
    throw error;
  } finally {
    if (attempt.deadline) clearTimeout(attempt.deadline);
    res.off('close', onResponseClose);
    (res as CallResponse)[CALL] = undefined;
  }
}

export interface DispatchInput {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly call: AdmittedCall;
  readonly deps: PipelineDeps;
  /** Another candidate follows: a 5xx answer is not relayed but thrown as an UpstreamStatusFailure (pipeline/failover.ts). */
  readonly failoverOnStatus?: boolean;
}

/** A 5xx answer held back because another candidate will be tried. */
export class UpstreamStatusFailure extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`upstream answered ${status}`);
    this.name = 'UpstreamStatusFailure';
    this.status = status;
  }

  /** What the agent gets when no candidate after it could be tried (over budget, circuit open). */
  asProxyError(): ProxyError {
    return new ProxyError('upstream_unreachable', { message: `upstream answered ${this.status}, and no other candidate of the model policy could be tried` });
  }
}

/** One call on its way upstream: what the failure path needs to know of how far it got. */
interface Attempt {
  readonly call: AdmittedCall;
  readonly deps: PipelineDeps;
  readonly cancel: CallCancel;
  /** The upstream answered 2xx. */
  answeredOk: boolean;
  /** Masked wherever an answer could echo them: headers, bodies, redirects, error messages. */
  readonly providerKeys: readonly ProviderKey[];
  deadline: NodeJS.Timeout | null;
}

/**
 * Non-streamed calls get one deadline over headers and body; streams are policed by the tap's first-byte/idle watchdog;
 * an adapter call is always read whole upstream: one deadline, the first-byte one when the agent streams (cllama's).
 * Armed again when a call switches to the adapter on the provider's word.
 */
function armDeadline(attempt: Attempt): void {
  const { call, cancel } = attempt;
  const { timeouts } = attempt.deps.config;
  if (attempt.deadline) clearTimeout(attempt.deadline);
  if (call.stream && !call.adapter) return;
  const ms = call.adapter && call.stream ? timeouts.firstByteMs : timeouts.dispatchMs;
  attempt.deadline = setTimeout(abortOnDeadline, ms, cancel, ms);
  attempt.deadline.unref();
}

/** Sends the call (upstream-send.ts) and relays the answer, or refuses a redirect, or holds back a 5xx for failover. */
async function sendAndRelay(input: { attempt: Attempt; req: IncomingMessage; res: ServerResponse; failoverOnStatus: boolean }): Promise<RelayResult> {
  const { attempt, res } = input;
  const { call, deps, cancel, providerKeys } = attempt;
  const upstream = await sendUpstream({ call, deps, cancel, incoming: input.req.headers, onAdapter: () => armDeadline(attempt) });
  if (isRedirect(upstream.statusCode)) {
    call.statusCode = upstream.statusCode; // answered without working on it: released, not charged
    throw await redirectRefused({ upstream, keysToMask: providerKeys });
  }
  if (input.failoverOnStatus && upstream.statusCode >= 500 && upstream.statusCode <= 599) {
    // another candidate will be tried: this answer is not relayed (its connection dropped), released, not charged
    call.statusCode = upstream.statusCode;
    const failure = new UpstreamStatusFailure(upstream.statusCode);
    cancel.abort(failure);
    throw failure;
  }
  attempt.answeredOk = upstream.statusCode >= 200 && upstream.statusCode < 300;
  call.upstreamRequestId = upstreamRequestId(upstream.headers, providerKeys);
  return relay({ attempt, upstream, res });
}

/** Relays the answer (translated back when it came through the adapter), settling the call before it ends. */
function relay(input: { attempt: Attempt; upstream: UpstreamResponse; res: ServerResponse }): Promise<RelayResult> {
  const { attempt, upstream } = input;
  const { call, deps, cancel, providerKeys } = attempt;
  const { timeouts } = deps.config;
  return relayResponse({
    upstream,
    res: input.res,
    protocol: call.protocol,
    headers: responseHeaders(downstreamResponseHeaders({ upstream: upstream.headers, keepLength: false, keysToMask: providerKeys }), call),
    stripUsageChunk: call.stream && !call.clientWantsUsage && !call.adapter,
    translate: call.adapter?.translate,
    maxBytes: deps.config.maxResponseBytes,
    streamTimeouts: { firstByteMs: timeouts.firstByteMs, idleMs: timeouts.idleMs },
    cancel,
    keysToMask: providerKeys,
    hold: call.bytes,
    // charged and recorded (durably) before the answer ends: see settle.ts
    beforeEnd: (result) => {
      call.statusCode = upstream.statusCode;
      return settleCall({ call, deps, relay: result, upstreamWorked: attempt.answeredOk });
    },
  });
}

// The response's close listener and the deadline are module-level functions (the call's cancel handle rides on the
// response, or is passed to the timer), not closures created for every call.
const CALL = Symbol('tollgate.call');
type CallResponse = ServerResponse & { [CALL]?: CallCancel };

function onResponseClose(this: CallResponse): void {
  if (!this.writableFinished) this[CALL]?.abort(new ProxyError('upstream_unreachable', { message: 'client closed the connection' }));
}

/**
 * Whether a failed call had reached an upstream that was working on it (its prompt processed, and billed): the whole
 * request was sent and then the client left, a deadline passed, or a 2xx answer failed part-way. A connection that
 * fails before any answer (a reset, a keep-alive connection the server had just closed) is not taken as work done.
 */
function upstreamWasWorking(input: { cancel: CallCancel; answeredOk: boolean; error: unknown }): boolean {
  if (!input.cancel.requestSent) return false;
  return input.answeredOk || input.cancel.aborted || (input.error instanceof ProxyError && input.error.code === 'upstream_timeout');
}

/** The relay result of a call that ended before any of its answer was relayed. */
function cutBeforeAnswer(call: AdmittedCall, res: ServerResponse): RelayResult {
  return {
    end: res.destroyed ? 'client_aborted' : 'upstream_error',
    sse: call.stream,
    usage: null,
    bodyText: '',
    dataEvents: 0,
    generatedBytes: 0,
    finalUsage: false,
    truncated: false,
  };
}

function abortOnDeadline(cancel: CallCancel, ms: number): void {
  cancel.abort(new ProxyError('upstream_timeout', { message: `upstream did not answer within ${ms} ms` }));
}

/**
 * The relayed upstream headers (a fresh object), plus the budget standing and tollgate's id of the call, added in
 * place. The upstream's own `x-request-id` is relayed as it is (the SDKs show it for support tickets with the
 * provider); tollgate's id is always in `x-tollgate-request-id`, and in `x-request-id` when the upstream sent none.
 */
function responseHeaders(headers: OutgoingHttpHeaders, call: AdmittedCall): OutgoingHttpHeaders {
  const standing = call.admission?.headers;
  if (standing) for (const name in standing) headers[name] = standing[name];
  headers['x-tollgate-request-id'] = call.id;
  headers['x-tollgate-model'] = `${call.route.provider.name}/${call.route.upstreamModel}`; // the model that answered
  if (headers['x-request-id'] === undefined) headers['x-request-id'] = call.id;
  return headers;
}

/**
 * The upstream's id of the call, when it sent one: masked as the relayed header is (an upstream may echo the key in
 * it), then bounded (it lands in history, the audit log and the live feed).
 */
function upstreamRequestId(headers: Record<string, string | string[] | undefined>, keys: readonly ProviderKey[]): string | undefined {
  const text = headerValue(headers['x-request-id'] ?? headers['request-id']);
  return text === undefined || text === '' ? undefined : maskKeysInText(text, keys).slice(0, 200);
}
