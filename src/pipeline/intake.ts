// The first steps of a model call: who is calling (auth) and what they sent (body, checked), before anything is routed.
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { ProxyError } from '../errors.ts';
import { jsonDeeperThan } from '../protocol/json-depth.ts';
import { parseJsonObject, readBody } from '../transport/body.ts';
import type { Protocol } from '../protocol/protocol.ts';
import type { CallProgress, CallRequest, CallStart } from './context.ts';
import { authenticate } from './authenticate.ts';
import type { PipelineDeps } from './deps.ts';

export function startCall(url: string | undefined, protocol: Protocol): CallStart {
  const text = url ?? '/';
  const queryAt = text.indexOf('?');
  return {
    id: randomUUID(),
    startedAt: Date.now(),
    protocol,
    path: queryAt < 0 ? text : text.slice(0, queryAt),
    query: queryAt < 0 ? '' : text.slice(queryAt + 1),
  };
}

/**
 * 1 auth (before a byte of the body is read or held: unknown callers hold nothing), 2 body: read once within its
 * bounds, its nesting bounded before JSON.parse builds it (nothing downstream recurses deep), parsed once. Each part is
 * put on `progress` as soon as it is known (the hold is released, and a failure reported, from there).
 */
export async function readRequest(input: { req: IncomingMessage; progress: CallProgress; deps: PipelineDeps }): Promise<CallRequest> {
  const { req, progress, deps } = input;
  const agent = authenticate(req, deps.agents);
  progress.agent = agent;
  const bytes = deps.bytesInFlight.hold(agent.id);
  progress.bytes = bytes;
  const bodyText = (await readBody(req, { maxBytes: deps.config.maxBodyBytes, hold: bytes })).toString('utf8');
  if (jsonDeeperThan(bodyText, deps.config.maxJsonDepth)) throw tooDeep(deps.config.maxJsonDepth);
  const body = parseJsonObject(bodyText);
  const { start } = progress;
  // every field written out, in one order: a spread of `start` here cost ~2% of a governed call's CPU (the object
  // literal's stores missed their inline caches on every call)
  const request: CallRequest = {
    id: start.id,
    startedAt: start.startedAt,
    protocol: start.protocol,
    path: start.path,
    query: start.query,
    agent,
    bytes,
    bodyText,
    body,
    headers: req.headers,
  };
  progress.request = request;
  return request;
}

function tooDeep(maxDepth: number): ProxyError {
  return new ProxyError('body_too_deep', {
    message: `request body nested too deeply: objects and arrays deeper than ${maxDepth} levels are refused (TOLLGATE_MAX_JSON_DEPTH)`,
  });
}
