// Sends one request upstream with undici over pooled keep-alive connections; maps transport failures to coded errors.
import { Agent, errors as undiciErrors, request, type Dispatcher } from 'undici';
import { ProxyError } from '../errors.ts';

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData['body'];
}

export interface SendInput {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** Aborted when the client goes away or a deadline passes. */
  readonly signal: AbortSignal;
  /** How long to wait for response headers. */
  readonly headersTimeoutMs: number;
}

export class UpstreamClient {
  readonly #dispatcher: Agent;

  constructor(options: { connectTimeoutMs: number; connections?: number }) {
    this.#dispatcher = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      connections: options.connections ?? 256,
      keepAliveTimeout: 30_000,
      pipelining: 1,
      // body gaps are policed by the tap (idle and whole-call deadlines), not by undici
      bodyTimeout: 0,
    });
  }

  async send(input: SendInput): Promise<UpstreamResponse> {
    try {
      const response = await request(input.url, {
        method: 'POST',
        headers: input.headers,
        body: input.body,
        signal: input.signal,
        dispatcher: this.#dispatcher,
        headersTimeout: input.headersTimeoutMs,
      });
      return { statusCode: response.statusCode, headers: response.headers, body: response.body };
    } catch (error) {
      throw upstreamError(error, input.signal);
    }
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}

/** Maps an undici/socket failure to 502 or 504 without ever echoing headers (they hold the provider key). */
export function upstreamError(error: unknown, signal?: AbortSignal): ProxyError {
  if (error instanceof ProxyError) return error;
  const reason = signal?.aborted ? signal.reason : undefined;
  if (reason instanceof ProxyError) return reason;
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.ConnectTimeoutError) {
    return new ProxyError('upstream_timeout', { message: `upstream timed out: ${(error as Error).message}` });
  }
  const code = (error as { code?: string }).code;
  const detail = code ?? (error as Error)?.message ?? 'unknown error';
  return new ProxyError('upstream_unreachable', { message: `upstream request failed: ${detail}` });
}
