// Sends one request upstream with undici over pooled keep-alive connections; maps transport failures to coded errors.
import { Agent, errors as undiciErrors, util as undiciUtil, type Dispatcher } from 'undici';
import { ProxyError } from '../errors.ts';
import { UpstreamBody } from './upstream-body.ts';

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Read it whole (`bytes()`) or chunk by chunk (`for await`, with backpressure); leaving a loop early aborts the call. */
  readonly body: UpstreamBody;
}

/**
 * Cancels one upstream call: the pipeline aborts it when the client goes away or a deadline passes. A plain object
 * rather than an AbortController: Node's EventTarget-based signal costs more than the rest of the dispatch.
 */
export class CallCancel {
  #aborted = false;
  #reason: unknown = undefined;
  #listener: ((reason: unknown) => void) | null = null;
  /** The request's body was written to the upstream in full: from here on the upstream may be working on it. */
  requestSent = false;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** The first reason wins; later calls do nothing. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    const listener = this.#listener;
    this.#listener = null;
    listener?.(reason);
  }

  /** One listener (the call in flight); null detaches it. */
  setListener(listener: ((reason: unknown) => void) | null): void {
    this.#listener = listener;
  }
}

export interface SendInput {
  readonly url: string;
  readonly headers: Record<string, string>;
  /** The request body (POST); null for a GET (a provider's model list). */
  readonly body: Buffer | null;
  /** POST unless said (GET for a provider's model list). */
  readonly method?: 'GET' | 'POST';
  /** Aborted when the client goes away or a deadline passes. */
  readonly cancel: CallCancel;
  /** How long to wait for response headers. */
  readonly headersTimeoutMs: number;
}

export interface UpstreamClientOptions {
  readonly connectTimeoutMs: number;
  /**
   * Most connections per upstream origin; null (default): no bound of its own. A call past the bound waits for a
   * connection to free up, with no timer running (the headers and first-byte deadlines start once it is sent), and a
   * stream holds its connection for minutes: with a bound of 256, the 257th concurrent stream to one provider waited
   * for one of them to end. Without one, connections follow the calls in flight (each already holds a client socket),
   * and those idle for `idleMs` are closed; the pool of an origin with none left is dropped.
   */
  readonly connections?: number | null;
  /**
   * Longest an idle connection is kept for reuse (default 30 s), whatever the upstream's `Keep-Alive: timeout=`
   * says: a shorter hint is taken (less 2 s, before the upstream closes its end), a longer one is not (an upstream
   * advertising 65 s held each idle socket ~63 s).
   */
  readonly idleMs?: number;
}

const DEFAULT_IDLE_MS = 30_000;

export class UpstreamClient {
  readonly #dispatcher: Agent;

  constructor(options: UpstreamClientOptions) {
    this.#dispatcher = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      connections: options.connections ?? null,
      keepAliveTimeout: options.idleMs ?? DEFAULT_IDLE_MS,
      keepAliveMaxTimeout: options.idleMs ?? DEFAULT_IDLE_MS,
      pipelining: 1,
      // body gaps are policed by the tap (idle and whole-call deadlines), not by undici
      bodyTimeout: 0,
    });
  }

  /**
   * Resolves with the status and headers as soon as they arrive; transport failures (before or instead of headers)
   * reject with a coded ProxyError. Uses undici's dispatch API with a small handler of our own rather than
   * `request()`, which wraps every response in a Readable stream, an AsyncResource and a URL parse.
   */
  send(input: SendInput): Promise<UpstreamResponse> {
    const { cancel } = input;
    if (cancel.aborted) return Promise.reject(upstreamError(cancel.reason, cancel));
    return new Promise((resolve, reject) => {
      const handler = new CallHandler(cancel, resolve, reject);
      try {
        const { origin, path } = splitUrl(input.url);
        this.#dispatcher.dispatch(
          { origin, path, method: input.method ?? 'POST', headers: input.headers, body: input.body, headersTimeout: input.headersTimeoutMs },
          handler,
        );
      } catch (error) {
        handler.onError(error as Error);
      }
    });
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}

/**
 * One call's handler on undici's legacy interface (onConnect/onHeaders/onData/onComplete): settles the send promise,
 * then feeds the body. Kept on purpose: undici 7.30's adapter for the new interface (handler/unwrap-handler.js) forwards
 * no `onRequestSent`, and whether the whole request reached the upstream decides whether a cut call's prompt is charged
 * (pipeline/dispatch.ts upstreamWasWorking). Move when undici's new interface reports it.
 */
class CallHandler implements Dispatcher.DispatchHandler {
  readonly #cancel: CallCancel;
  readonly #resolve: (response: UpstreamResponse) => void;
  readonly #reject: (error: ProxyError) => void;
  #abortCall: ((reason: unknown) => void) | null = null;
  #body: UpstreamBody | null = null;
  #settled = false;

  constructor(cancel: CallCancel, resolve: (response: UpstreamResponse) => void, reject: (error: ProxyError) => void) {
    this.#cancel = cancel;
    this.#resolve = resolve;
    this.#reject = reject;
    cancel.setListener((reason) => this.abort(reason));
  }

  onRequestSent(): void {
    this.#cancel.requestSent = true;
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.#cancel.aborted) abort(this.#cancel.reason as Error);
    else this.#abortCall = abort as (reason: unknown) => void;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx informational: the real answer follows
    if (this.#settled) return false;
    this.#settled = true;
    this.#body = new UpstreamBody({ resume, call: this });
    this.#resolve({ statusCode, headers: undiciUtil.parseHeaders(rawHeaders) as UpstreamResponse['headers'], body: this.#body });
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.#body!.push(chunk);
  }

  onComplete(): void {
    this.#cancel.setListener(null);
    this.#body?.end();
  }

  onError(error: Error): void {
    this.#cancel.setListener(null);
    if (this.#body) this.#body.fail(error);
    else if (!this.#settled) {
      this.#settled = true;
      this.#reject(upstreamError(error, this.#cancel));
    }
  }

  /** Aborts the call in flight (undici then reports it through onError), or fails it before it has started. */
  abort(reason: unknown): void {
    if (this.#abortCall) this.#abortCall(reason);
    else this.onError(reason as Error);
  }
}

const SPLIT_CACHE_SIZE = 1024;
const splitUrls = new Map<string, { readonly origin: string; readonly path: string }>();

/** Origin and path (with query) of an upstream URL; routes repeat a handful of URLs, so each is parsed once. */
function splitUrl(url: string): { readonly origin: string; readonly path: string } {
  let split = splitUrls.get(url);
  if (!split) {
    const parsed = new URL(url);
    split = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
    if (splitUrls.size >= SPLIT_CACHE_SIZE) splitUrls.clear();
    splitUrls.set(url, split);
  }
  return split;
}

/** Maps an undici/socket failure to 502 or 504 without ever echoing headers (they hold the provider key). */
export function upstreamError(error: unknown, cancel?: CallCancel): ProxyError {
  if (error instanceof ProxyError) return error;
  const reason = cancel?.aborted ? cancel.reason : undefined;
  if (reason instanceof ProxyError) return reason;
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.ConnectTimeoutError) {
    return new ProxyError('upstream_timeout', { message: `upstream timed out: ${(error as Error).message}` });
  }
  const code = (error as { code?: string }).code;
  const said = code === undefined ? undefined : NETWORK_FAILURES[code];
  const detail = said ? `${said} (${code})` : (code ?? (error as Error)?.message ?? 'unknown error');
  return new ProxyError('upstream_unreachable', { message: `upstream request failed: ${detail}` });
}

/** What the usual socket-level failure codes mean, said plainly for the agent's error message (the code follows). */
const NETWORK_FAILURES: Record<string, string> = {
  UND_ERR_SOCKET: 'the upstream closed the connection before its response was complete',
  ECONNRESET: 'the upstream reset the connection',
  ECONNREFUSED: 'the upstream refused the connection',
  ENOTFOUND: 'the upstream host name does not resolve',
  EAI_AGAIN: 'the upstream host name could not be resolved just now',
  EHOSTUNREACH: 'the upstream host is unreachable',
  ENETUNREACH: 'the upstream network is unreachable',
  EPIPE: 'the upstream closed the connection while the request was being sent',
  UND_ERR_BODY_TIMEOUT: 'the upstream stopped sending its response body',
  UND_ERR_RESPONSE_STATUS_CODE: 'the upstream answered with an unexpected status',
};
