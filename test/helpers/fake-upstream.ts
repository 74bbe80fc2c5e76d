// A fake provider on a loopback port: speaks OpenAI chat and responses, Anthropic messages (JSON and SSE); misbehaves on demand.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { anthropicMessage, countTokens, modelList, openAICompletion, responseObject, responsesEvents } from './fake-bodies.ts';
import type { Behavior } from './fake-behavior.ts';
import { credentialOf } from './fake-credentials.ts';
import { sleep, streamAnswer, writeRawBody } from './fake-wire.ts';

export type { Behavior } from './fake-behavior.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface FakeUpstream {
  readonly url: string;
  /** Behaviour per credential (Bearer token or x-api-key), over `behavior` (GET /v1/models too: a key pool's re-check). */
  byKey: Record<string, Behavior>;
  readonly requests: RecordedRequest[];
  /** How many calls wait now on `hold`. */
  readonly held: number;
  /** Lets every call waiting on `hold` be answered. */
  releaseHeld(): void;
  behavior: Behavior;
  close(): Promise<void>;
}

export async function startFakeUpstream(initial: Behavior = {}): Promise<FakeUpstream> {
  const requests: RecordedRequest[] = [];
  const state = { behavior: initial, byKey: {} as Record<string, Behavior> };
  const sockets = new Set<import('node:net').Socket>();
  const gate = holdGate();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = {};
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const perRequest = parseBehaviorHeader(req.headers['x-fake-behavior']);
      const base = { ...state.behavior, ...state.byKey[credentialOf(req.headers)], ...perRequest };
      const forModel = base.models?.[String(body.model)];
      const behavior = forModel ? { ...base, ...forModel } : base;
      void (behavior.hold ? gate.wait() : Promise.resolve()).then(() => respond(res, req.url ?? '', body, behavior));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get held() {
      return gate.waiting;
    },
    releaseHeld: () => gate.release(),
    get behavior() {
      return state.behavior;
    },
    get byKey() {
      return state.byKey;
    },
    set byKey(value: Record<string, Behavior>) {
      state.byKey = value;
    },
    set behavior(value: Behavior) {
      state.behavior = value;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Calls that wait until released, all at once. */
function holdGate(): { readonly waiting: number; wait(): Promise<void>; release(): void } {
  let waiters: Array<() => void> = [];
  return {
    get waiting() {
      return waiters.length;
    },
    wait: () => new Promise<void>((resolve) => waiters.push(resolve)),
    release() {
      const released = waiters;
      waiters = [];
      for (const resolve of released) resolve();
    },
  };
}

function parseBehaviorHeader(value: string | string[] | undefined): Behavior {
  if (typeof value !== 'string') return {};
  try {
    return JSON.parse(value) as Behavior;
  } catch {
    return {};
  }
}

async function respond(res: ServerResponse, path: string, body: Record<string, unknown>, behavior: Behavior): Promise<void> {
  if (behavior.delayMs) await sleep(behavior.delayMs);
  if (behavior.reset) {
    res.socket?.destroy();
    return;
  }
  if (behavior.rawBody !== undefined) return writeRawBody(res, body, behavior);
  if (behavior.redirectTo) {
    res.writeHead(307, { location: behavior.redirectTo, 'content-type': 'text/plain' });
    res.end('moved');
    return;
  }
  if (behavior.status && behavior.status >= 400) {
    const payload = JSON.stringify(behavior.errorBody ?? { error: { message: `fake upstream error ${behavior.status}`, type: 'server_error' } });
    res.writeHead(behavior.status, { 'content-type': 'application/json', ...behavior.headers });
    res.end(payload);
    return;
  }
  if (path.startsWith('/v1/models')) return writeJson(res, modelList());
  if (path.startsWith('/v1/messages/count_tokens')) return writeJson(res, countTokens(body));
  if (behavior.onlyResponses && path.startsWith('/v1/chat/')) {
    const only =
      behavior.onlyResponses === true
        ? { status: 400, message: 'This model is only supported in v1/responses and not in v1/chat/completions.' }
        : behavior.onlyResponses;
    return writeJson(res, { error: { message: only.message, type: 'invalid_request_error' } }, only.status);
  }
  const anthropic = path.startsWith('/v1/messages') || path.startsWith('/messages');
  const responses = path.startsWith('/v1/responses');
  const maxTokens = Number(body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens ?? 20);
  const usage =
    behavior.usage === undefined
      ? { input: 10, output: behavior.answerTokens === undefined ? maxTokens : answeredTokens(body, behavior.answerTokens) }
      : behavior.usage;
  const model = String(body.model ?? 'unknown');
  if (behavior.stall && body.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"id":');
    return;
  }
  if (body.stream === true) {
    const events = responses
      ? responsesEvents({ model, usage, chunks: behavior.chunks ?? 3, chunkText: behavior.chunkText, shape: behavior, body })
      : undefined;
    return streamAnswer({ res, anthropic, model, usage, behavior, includeUsage: isUsageRequested(body), events });
  }
  const content = behavior.contentChars !== undefined ? 'x'.repeat(behavior.contentChars) : (behavior.content ?? 'hello from fake upstream');
  const payload = responses
    ? responseObject({ model, usage, text: content, shape: behavior, body })
    : anthropic
      ? anthropicMessage(model, usage, content)
      : openAICompletion(model, usage, content);
  const raw = Buffer.from(JSON.stringify(payload));
  if (behavior.gzip) {
    const zipped = gzipSync(raw);
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': zipped.length });
    res.end(zipped);
    return;
  }
  const idHeader = behavior.requestId === undefined ? {} : { [anthropic ? 'request-id' : 'x-request-id']: behavior.requestId };
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': raw.length, ...idHeader, ...behavior.headers });
  res.end(raw);
}

/** Output tokens of a model that writes `perChoice` tokens per choice unless the request caps fewer. */
function answeredTokens(body: Record<string, unknown>, perChoice: number): number {
  const caps = [body.max_completion_tokens, body.max_tokens, body.max_output_tokens].filter((cap): cap is number => typeof cap === 'number' && cap > 0);
  const choices = typeof body.n === 'number' && body.n > 1 ? body.n : 1;
  return Math.min(perChoice, ...caps) * choices;
}

function isUsageRequested(body: Record<string, unknown>): boolean {
  const options = body.stream_options as { include_usage?: boolean } | undefined;
  return options?.include_usage === true;
}

function writeJson(res: ServerResponse, value: unknown, status = 200): void {
  const raw = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw) });
  res.end(raw);
}
